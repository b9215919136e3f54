"""Compute accounting (device time per run, submission, entrant, competition), the compute
quota, and fail-fast chunking: a submission's first chunk runs alone, and a failure there
spends nothing more."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.db import session_scope
from core.models import Competition, Run, Submission, User, WorkChunk
from core.queue import queue_depth
from core.settings import get_settings
from harness.platform import tiny_config
from server.app import create_app
from server.services.platform import seed_competition
from worker import hardware
from worker.jobs.prepare import run_preparation
from worker.jobs.score import run_chunk, run_scoring
from worker.pipeline import fanout
from worker.sandbox import warm as warm_sandbox
from worker.sandbox.runner import Sandbox

GOOD = b"def unlearning(net, retain_loader, forget_loader, val_loader):\n    return net\n"
CRASH = (
    b"def unlearning(net, retain_loader, forget_loader, val_loader):\n    raise ValueError('no')\n"
)


@pytest.fixture(scope="module")
def client(migrated_db):
    chunked = tiny_config("compute-chunks")
    chunked.execution.runs_per_chunk = 2
    quota = tiny_config("compute-quota")
    quota.limits.max_device_hours_per_day = 0.01  # 36 s; a submission reserves 4 × (3 + 1) s
    with session_scope() as s:
        ids = [seed_competition(s, c).id for c in (tiny_config("compute"), chunked, quota)]
    for cid in ids[:2]:
        run_preparation(cid, get_settings(), inline=True)
    with TestClient(create_app()) as c:
        yield c


def _account(client: TestClient, name: str, role: str | None = None) -> dict[str, str]:
    r = client.post("/api/v1/users", json={"username": name, "password": "hunter2hunter2"})
    assert r.status_code == 201, r.text
    if role:
        with session_scope() as s:
            s.scalar(select(User).where(User.username == name)).role = role
    r = client.post("/api/v1/tokens", json={"username": name, "password": "hunter2hunter2"})
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _submit(client, headers, slug: str, content: bytes = GOOD):
    client.post(f"/api/v1/competitions/{slug}/rules/accept", headers=headers)
    return client.post(
        f"/api/v1/competitions/{slug}/submissions",
        files={"file": ("method.py", content)},
        headers=headers,
    )


def test_every_run_records_its_device_time_and_totals_add_up(client):
    alice, bob = _account(client, "c-alice"), _account(client, "c-bob")
    admin = _account(client, "c-admin", role="admin")
    r = _submit(client, alice, "compute")
    assert r.status_code == 202
    sid = r.json()["id"]
    run_scoring(sid, get_settings(), inline=True)

    sub = client.get(f"/api/v1/submissions/{sid}", headers=alice).json()
    assert sub["status"] == "scored"
    runs = sub["runs"]
    assert len(runs) == 4
    for run in runs:
        assert run["device"] == hardware.worker_class(get_settings())
        # every published time is in 0.1 s steps, device time included (server/precision.py)
        assert run["device_seconds"] > 0 and run["device_seconds"] + 0.15 >= run["seconds"] >= 0
    # each rounded: 0.05 s off at most; the diagnostic run on public data is charged too
    published = sum(r["device_seconds"] for r in runs) + sub["diagnostic"]["device_seconds"]
    assert sub["device_seconds"] == pytest.approx(published, abs=0.05 * (len(runs) + 2))

    mine = client.get("/api/v1/competitions/compute/compute", headers=alice).json()
    assert [e["entrant"] for e in mine["entrants"]] == ["c-alice"]
    assert mine["preparation_device_seconds"] is None  # the organizers' business
    assert mine["runs"] == 4
    assert mine["total_device_seconds"] == pytest.approx(sub["device_seconds"], abs=0.1)
    assert client.get("/api/v1/competitions/compute/compute", headers=bob).json()["entrants"] == []

    everyone = client.get("/api/v1/competitions/compute/compute", headers=admin).json()
    with session_scope() as s:
        prepared = s.scalar(
            select(Competition.preparation_device_seconds).where(Competition.slug == "compute")
        )
    assert prepared > 0 and everyone["preparation_device_seconds"] == pytest.approx(
        prepared, abs=0.05
    )
    assert everyone["total_device_seconds"] == pytest.approx(
        prepared + sub["device_seconds"], abs=0.15
    )
    assert client.get("/api/v1/competitions/compute/compute").status_code == 401
    assert "arena_device_seconds" not in client.get("/metrics").text  # sums: admins only
    metrics = client.get("/metrics", headers=admin).text
    spent = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("arena_device_seconds_total")
    )
    assert spent >= prepared + sub["device_seconds"] - 0.05
    assert "arena_chunks_waiting" in metrics


def test_the_compute_quota_is_shown_before_upload_and_enforced(client):
    carol = _account(client, "c-carol")
    limits = client.get("/api/v1/competitions/compute-quota", headers=carol).json()["limits"]
    assert limits["max_device_hours_per_day"] == 0.01
    assert limits["device_seconds_today"] == 0 and limits["device_seconds_remaining_today"] == 36
    assert limits["submission_reserve_seconds"] == pytest.approx(16.0)
    assert _submit(client, carol, "compute-quota").status_code == 202
    assert _submit(client, carol, "compute-quota").status_code == 202  # 32 s reserved
    r = _submit(client, carol, "compute-quota")
    assert r.status_code == 429
    assert "compute quota" in r.json()["detail"] and "device-hours" in r.json()["detail"]
    limits = client.get("/api/v1/competitions/compute-quota", headers=carol).json()["limits"]
    assert limits["device_seconds_today"] == pytest.approx(32.0)
    assert limits["remaining_today"] == 0  # the count limit is not reached; the compute one is
    with session_scope() as s:  # a failure of the platform's is never charged
        for sub in s.scalars(select(Submission).join(User).where(User.username == "c-carol")):
            sub.status, sub.counts_against_quota = "failed", False
    assert _submit(client, carol, "compute-quota").status_code == 202


def _chunks(sid: int) -> list[WorkChunk]:
    with session_scope() as s:
        rows = s.scalars(
            select(WorkChunk).where(WorkChunk.submission_id == sid).order_by(WorkChunk.start)
        ).all()
        s.expunge_all()
        return rows


def test_fail_fast_runs_the_first_chunk_alone_then_releases_the_rest(client):
    dave = _account(client, "c-dave")
    queue = hardware.run_queue(hardware.worker_class(get_settings()))
    sid = _submit(client, dave, "compute-chunks").json()["id"]
    run_scoring(sid, get_settings())  # as the coordinator would: plans, sends the first only
    chunks = _chunks(sid)
    # the probe: fail_fast_runs (1) run; then chunks of runs_per_chunk (2)
    assert [(c.start, c.stop) for c in chunks] == [(0, 1), (1, 3), (3, 4)]
    assert chunks[0].sent_at is not None and all(c.sent_at is None for c in chunks[1:])
    before = queue_depth(queue)
    run_chunk(chunks[0].id, get_settings(), "w-test")  # passes: the others are released
    assert all(c.sent_at is not None for c in _chunks(sid))
    assert queue_depth(queue) == before + 2
    for chunk in chunks[1:]:
        run_chunk(chunk.id, get_settings(), "w-test")
    with session_scope() as s:
        assert s.get(Submission, sid).status == "scored"


def test_chunks_are_cut_with_a_small_probe_first():
    assert fanout.ranges(list(range(10)), 4, first=3) == [(0, 3), (3, 7), (7, 10)]
    assert fanout.ranges([0, 1, 2, 5, 6], 4, first=1) == [(0, 1), (1, 3), (5, 7)]
    assert fanout.ranges(list(range(10)), 4) == [(0, 4), (4, 8), (8, 10)]
    cfg = tiny_config("x-probe")
    assert cfg.execution.fail_fast and cfg.execution.fail_fast_runs == 1


def test_a_failure_in_the_first_chunk_spends_nothing_more(client):
    erin = _account(client, "c-erin")
    sid = _submit(client, erin, "compute-chunks", CRASH).json()["id"]
    run_scoring(sid, get_settings())
    first, *rest = _chunks(sid)
    run_chunk(first.id, get_settings(), "w-test")
    with session_scope() as s:
        sub = s.get(Submission, sid)
        assert sub.status == "failed" and sub.failure_reason == "crashed"
        assert "diagnostic run on public data" in sub.failure_message
        runs = s.scalars(select(Run).where(Run.submission_id == sid)).all()
        assert runs == []  # its diagnostic run failed it; no run on hidden data was spent
    first, *rest = _chunks(sid)
    assert first.status == "failed" and rest
    assert all(c.status == "abandoned" and c.sent_at is None for c in rest)  # never sent


def test_a_worker_keeps_its_sandbox_between_chunks_of_one_submission(client, monkeypatch):
    started: list[str] = []
    real_start = Sandbox.start

    def counting_start(self: Sandbox, *args) -> None:
        started.append(str(self.code_path))
        real_start(self, *args)

    monkeypatch.setattr(Sandbox, "start", counting_start)
    fay = _account(client, "c-fay")
    a = _submit(client, fay, "compute-chunks").json()["id"]
    run_scoring(a, get_settings())
    probe, second, third = _chunks(a)
    run_chunk(probe.id, get_settings(), "w-test")
    assert len(started) == 1 and warm_sandbox._kept is not None  # kept: more chunks wait
    run_chunk(second.id, get_settings(), "w-test")
    assert len(started) == 1  # the same sandbox ran the second chunk

    b = _submit(client, fay, "compute-chunks").json()["id"]  # another submission: its own
    run_scoring(b, get_settings())
    b_chunks = _chunks(b)
    run_chunk(b_chunks[0].id, get_settings(), "w-test")
    assert len(started) == 2 and f"{b:08d}" in started[1]
    run_chunk(third.id, get_settings(), "w-test")  # a again: b's sandbox closed, a new one
    assert len(started) == 3 and f"{a:08d}" in started[2]
    for chunk in b_chunks[1:]:
        run_chunk(chunk.id, get_settings(), "w-test")
    assert warm_sandbox._kept is None  # the last chunk of a submission keeps nothing
    with session_scope() as s:
        assert s.get(Submission, a).status == "scored"
        assert s.get(Submission, b).status == "scored"
