"""The worker's jobs called directly (no Celery): preparation, policies, idempotency, infra failures."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.db import session_scope
from core.models import Competition, Run, Submission, User
from core.settings import get_settings
from core.storage import Storage
from harness.jobs import stored_submission
from harness.platform import ROOT, tiny_config
from server.security import hash_password
from server.services.platform import seed_competition
from worker.jobs.prepare import run_preparation
from worker.jobs.score import run_scoring, run_seed
from worker.ml import artefacts

SLOW = b"""
import time

def unlearning(net, retain_loader, forget_loader, val_loader):
    end = time.process_time() + 1.9  # CPU time: what the clock charges
    while time.process_time() < end:
        pass
    return net
"""


@pytest.fixture(scope="module")
def competition(migrated_db):
    cfg = tiny_config("jobs", budget_floor_seconds=1.5, grace_fraction=1.0)
    with session_scope() as s:
        comp = seed_competition(s, cfg)
        user = User(username="jobs-user", password_hash=hash_password("x" * 10))
        s.add(user)
        s.flush()
        ids = comp.id, user.id
    run_preparation(ids[0], get_settings(), inline=True)
    return ids


def _submission(competition, content: bytes) -> int:
    comp_id, user_id = competition
    return stored_submission(comp_id, user_id, content, n_models=4)


def _get(sid: int) -> tuple[Submission, list[Run]]:
    with session_scope() as s:
        sub = s.get(Submission, sid)
        runs = s.scalars(select(Run).where(Run.submission_id == sid)).all()
        s.expunge_all()
    return sub, list(runs)


def test_preparation_stores_budget_references_and_reference_rows(competition):
    with session_scope() as s:
        comp = s.get(Competition, competition[0])
        assert comp.status == "open" and comp.prepared_at is not None
        assert (
            comp.budgets[0].budget_seconds == 1.5
        )  # the floor: a tiny model trains in well under 15 s
        assert set(comp.reference_summary) >= {"retrain", "original"}
        assert comp.reference_summary["original"]["score"] == 0.0
    refs = artefacts.load_stack(
        Storage(get_settings()).competition_dir("jobs") / artefacts.REFERENCES
    )
    assert len(refs) == 4 and refs.forget_logits.shape == (4, 24, 10)


def test_scoring_is_idempotent(competition):
    sid = _submission(competition, (ROOT / "examples" / "identity.py").read_bytes())
    run_scoring(sid, get_settings(), inline=True)
    sub, runs = _get(sid)
    assert sub.status == "scored" and sub.score == 0.0 and len(runs) == 4
    seeds = [r.seed for r in sorted(runs, key=lambda r: r.index)]
    assert seeds == [run_seed(sid, i) for i in range(4)] and len(set(seeds)) == 4
    run_scoring(sid, get_settings(), inline=True)  # a redelivered task changes nothing
    again, runs_again = _get(sid)
    assert (
        again.status == "scored" and again.finished_at == sub.finished_at and len(runs_again) == 4
    )


def test_over_budget_fails_fast_under_the_fail_policy(competition):
    sid = _submission(competition, SLOW)
    run_scoring(sid, get_settings(), inline=True)
    sub, runs = _get(sid)
    assert (
        sub.status == "failed" and sub.failure_reason == "over_budget" and sub.counts_against_quota
    )
    assert (
        "over the budget" in sub.failure_message and "ARENA_BUDGET_SECONDS" in sub.failure_message
    )
    # it went over on the diagnostic run, on public data: no run on hidden data was spent
    assert runs == [] and "diagnostic run on public data" in sub.failure_message
    assert sub.diagnostic["status"] == "over_budget" and sub.diagnostic["clock"] == "cpu"


def test_infrastructure_failure_does_not_count_against_quota(competition, tmp_path):
    refs = Storage(get_settings()).competition_dir("jobs") / artefacts.REFERENCES
    moved = tmp_path / "refs.npz"
    refs.rename(moved)
    try:
        sid = _submission(competition, (ROOT / "examples" / "identity.py").read_bytes())
        run_scoring(sid, get_settings(), inline=True)
    finally:
        moved.rename(refs)
    sub, _ = _get(sid)
    assert sub.status == "failed" and sub.failure_reason == "infrastructure"
    assert sub.counts_against_quota is False and "does not count" in sub.failure_message


def test_submission_waits_while_the_competition_is_not_ready(migrated_db):
    with session_scope() as s:
        comp = seed_competition(s, tiny_config("jobs-draft"))
        user = s.scalar(select(User).where(User.username == "jobs-user")) or User(
            username="jobs-user2", password_hash="x"
        )
        s.add(user)
        s.flush()
        ids = comp.id, user.id
    sid = _submission(ids, b"def unlearning(a, b, c, d):\n    return a\n")
    run_scoring(sid, get_settings(), inline=True)
    sub, runs = _get(sid)
    assert sub.status == "queued" and runs == []


def test_a_competition_can_score_with_the_exact_rules(migrated_db):
    with session_scope() as s:
        comp = seed_competition(s, tiny_config("jobs-exact", rules="exact"))
        user = User(username="exact-user", password_hash="x")
        s.add(user)
        s.flush()
        ids = comp.id, user.id
    run_preparation(ids[0], get_settings(), inline=True)
    sid = _submission(ids, (ROOT / "examples" / "retrain.py").read_bytes())
    run_scoring(sid, get_settings(), inline=True)
    sub, _ = _get(sid)
    assert sub.status == "scored", sub.failure_message
    assert sub.result["rules"] == "exact" and 0 <= sub.forgetting_quality <= 1
    low, high = sub.result["forgetting_quality_ci"]  # over all forget examples
    assert low <= sub.result["forgetting_quality"] <= high
    public = sub.result["boards"]["public"]  # the leaderboard's part, in the columns
    assert public["forgetting_quality"] == sub.forgetting_quality
    assert (
        public["forgetting_quality_ci"][0]
        <= sub.forgetting_quality
        <= public["forgetting_quality_ci"][1]
    )
    assert sub.result["boards"]["private"]["n_examples"] + public["n_examples"] == 24
    sec = sub.result["secondary"]
    assert 0 <= sec["mia"] <= 1 and 0 <= sec["mia_target"] <= 1 and sec["avg_gap"] >= 0
    assert sec["rf_jsd_x1e4"] >= 0 and sec["jsd_to_retrained_x1e4"] >= 0


def test_worker_refuses_to_run_code_without_a_sandbox(competition, monkeypatch):
    from worker.jobs import chunk as chunk_job
    from worker.sandbox import jail

    def no_sandbox(user, allow_unconfined):
        raise jail.SandboxUnavailable("bubblewrap (bwrap) is not installed")

    monkeypatch.setattr(chunk_job, "jail_for", no_sandbox)
    sid = _submission(competition, (ROOT / "examples" / "identity.py").read_bytes())
    run_scoring(sid, get_settings(), inline=True)
    sub, runs = _get(sid)
    assert sub.status == "failed" and sub.failure_reason == "infrastructure"
    assert sub.counts_against_quota is False and "cannot isolate" in sub.failure_message
    assert runs == []  # no participant code ran


def test_jail_detection_says_what_is_missing(monkeypatch):
    from worker.sandbox import jail

    monkeypatch.setattr(jail.shutil, "which", lambda name: None)
    jail.detect.cache_clear()
    try:
        with pytest.raises(jail.SandboxUnavailable, match="bubblewrap"):
            jail.detect()
    finally:
        jail.detect.cache_clear()


def test_failures_show_up_in_the_metrics_by_reason(competition):
    from fastapi.testclient import TestClient

    from server.app import create_app

    sid = _submission(competition, b"def unlearning(a, b, c, d):\n    raise ValueError('no')\n")
    run_scoring(sid, get_settings(), inline=True)
    text = TestClient(create_app()).get("/metrics").text
    assert 'arena_submission_failures_total{reason="crashed"}' in text
    assert "arena_run_seconds_count" in text
    # the histogram is counted in SQL: the same as counting the rows here
    import re

    from core.db import session_scope
    from core.models import Run
    from server.api.routes.system import RUN_BUCKETS

    with session_scope() as s:
        seconds = [t for t in s.scalars(select(Run.seconds)) if t is not None]
    assert seconds
    for bound in RUN_BUCKETS:
        line = re.search(rf'arena_run_seconds_bucket{{le="{bound}"}} (\S+)', text)
        assert line and float(line.group(1)) == sum(t <= bound for t in seconds), bound
    assert "arena_run_seconds_sum" not in text  # anonymously: counts, no sums of run times
    from core.models import Role
    from server.services.users import create_user, issue_token

    with session_scope() as s:
        create_user(s, "metrics-admin", "metrics-password", Role.ADMIN)
        token = issue_token(s, "metrics-admin", "metrics-password")
    admin = {"Authorization": f"Bearer {token}"}
    text = TestClient(create_app()).get("/metrics", headers=admin).text
    total = re.search(r"arena_run_seconds_sum (\S+)", text)
    expected = sum(seconds)  # the session's database: other tests' rows are in it (inf too)
    got = float(total.group(1)) if total else None
    assert got is not None and (
        got == expected if expected == float("inf") else abs(got - expected) < 1e-6
    )


def test_worker_logs_carry_submission_and_run_ids(competition, capfd):
    import json
    import logging

    from core import logs

    logs.configure("json")
    try:
        sid = _submission(competition, b"def unlearning(a, b, c, d):\n    return a\n")
        run_scoring(sid, get_settings(), inline=True)
    finally:
        logging.getLogger().handlers.clear()
    records = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")
    ]
    runs = [r for r in records if r.get("run") is not None and r["submission_id"] == sid]
    assert {r["run"] for r in runs} == {0, 1, 2, 3}
    assert all(r["competition_id"] == competition[0] and r["level"] for r in runs)
    assert any(r["message"].startswith("scored") and r["submission_id"] == sid for r in records)
