"""The validity report through the real jobs: computed at the end of a preparation, refreshed at
the close with the boards' agreement, served by the API to organizers, then to everyone."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from core.db import session_scope
from core.models import Competition, User
from core.settings import get_settings
from core.validity import load_validity
from harness.jobs import stored_submission
from harness.platform import ROOT, tiny_config
from server.app import create_app
from server.services import organizing
from server.services.platform import seed_competition
from worker.jobs.prepare import run_preparation
from worker.jobs.score import run_scoring
from worker.jobs.validity import run_validity

N = 16
NOISE = """
import torch

def unlearning(net, retain_loader, forget_loader, val_loader):
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * SCALE)
    return net
"""
# three entries that score apart in no time: the unchanged model and two perturbed ones
METHODS = {
    "identity": (ROOT / "examples" / "identity.py").read_bytes(),
    "noise-small": NOISE.replace("SCALE", "0.05").encode(),
    "noise-large": NOISE.replace("SCALE", "0.5").encode(),
}


@pytest.fixture(scope="module")
def prepared(migrated_db):
    with TestClient(create_app()) as client:
        for name in ("validity-vera", "validity-viewer"):
            r = client.post("/api/v1/users", json={"username": name, "password": "hunter2hunter2"})
            assert r.status_code == 201
        cfg = tiny_config("validity", n_models=N)
        cfg.validity.baselines = ["identity", "kit:starter.py"]  # this one has no kit: it fails
        with session_scope() as s:
            comp = seed_competition(s, cfg)
            comp.owner_id = s.query(User).filter_by(username="validity-vera").one().id
            ids = comp.id, comp.owner_id
        run_preparation(ids[0], get_settings(), inline=True)
        yield client, ids


def _token(client: TestClient, name: str) -> dict[str, str]:
    r = client.post("/api/v1/tokens", json={"username": name, "password": "hunter2hunter2"})
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _score(comp_id: int, user_id: int, method: str, content: bytes) -> int:
    sid = stored_submission(
        comp_id, user_id, content, n_models=N, filename=f"{method}.py", method_name=method
    )
    run_scoring(sid, get_settings(), inline=True)
    return sid


def test_the_report_from_preparation_to_the_close(prepared):
    client, (comp_id, owner_id) = prepared
    with session_scope() as s:
        report = load_validity(s.get(Competition, comp_id).validity)
    assert report is not None and report.trigger == "preparation" and report.seconds > 0
    public, private = report.nulls
    assert (public.board, public.n_models, public.n_per_side) == ("public", N, N // 2)
    assert private.n_examples + public.n_examples == 24  # the forget set, split in two boards
    assert private.splits == 50 and len(private.values) == 50
    assert private.low <= private.mean <= private.high
    assert len({round(x, 9) for x in private.values}) > 5  # many splits, not one
    assert set(report.planner.sd_by_n) == {4, 8}
    assert [row.difference for row in report.planner.rows] == [0.01, 0.02, 0.05]
    assert all(a.note == "computed at the close" for a in report.agreements)

    # the baselines: scored at preparation as marked rows, charged to the preparation
    with session_scope() as s:
        comp = s.get(Competition, comp_id)
        summary, prep_seconds = comp.reference_summary, comp.preparation_device_seconds
    assert set(summary["baselines"]) == {"identity"}
    assert summary["baselines"]["identity"]["forgetting_quality"] == 0.0
    assert "no bundle" in summary["baseline_failures"]["kit:starter.py"]
    assert 0 < summary["baseline_device_seconds"] < prep_seconds
    assert any("kit:starter.py" in note for note in report.notes)
    board = client.get("/api/v1/competitions/validity/leaderboard").json()
    marked = [r for r in board["rows"] if r["baseline"]]
    assert [r["name"] for r in marked] == [f"baseline: identity (N = {N})"]
    assert marked[0]["reference"] and marked[0]["score"] == 0.0

    url = "/api/v1/competitions/validity/validity"
    assert client.get(url).status_code == 403  # before the close: organizers only
    assert client.get("/c/validity/validity").status_code == 403
    assert 'href="/c/validity/validity"' not in client.get("/c/validity").text
    vera = _token(client, "validity-vera")
    compute = client.get("/api/v1/competitions/validity/compute", headers=vera).json()
    assert compute["baselines_device_seconds"] == pytest.approx(
        summary["baseline_device_seconds"], abs=0.05
    )
    r = client.get(url, headers=vera)
    assert r.status_code == 200 and r.json()["nulls"][0]["board"] == "public"
    r = client.post(url, headers=_token(client, "validity-viewer"))
    assert r.status_code == 403 and "organizers" in r.json()["detail"]

    for method, content in METHODS.items():
        _score(comp_id, owner_id, method, content)
    with session_scope() as s:
        organizing.close_competition(s, s.get(User, owner_id), s.get(Competition, comp_id))
    assert run_validity(comp_id, get_settings(), "close") is not None

    page = client.get("/c/validity/validity")  # the page, with its figures
    assert page.status_code == 200 and "What a perfect method scores" in page.text
    assert "F (forgetting quality) of one split" in page.text and "rank, public" in page.text
    assert 'href="/c/validity/validity"' in client.get("/c/validity").text  # the tab
    r = client.get(url)  # after the close: anyone
    assert r.status_code == 200
    body = r.json()
    agreements = {a["key"]: a for a in body["agreements"]}
    assert set(agreements) == {"boards", "rules"}
    assert agreements["boards"]["n_entries"] == 3 and agreements["boards"]["tau"] is not None
    assert -1 <= agreements["boards"]["low"] <= agreements["boards"]["high"] <= 1
    rules = agreements["rules"]
    assert (rules["a_label"], rules["b_label"], rules["n_entries"]) == ("official", "exact", 3)
    assert len(rules["points"]) == 3
    metrics = {(c["metric"], c["against"]) for c in body["correlations"]}
    assert ("RF-JSD", "F") in metrics and ("MIA accuracy", "JSD to retrained") in metrics
    assert all(c["n"] == 6 for c in body["correlations"])  # 3 entries, 2 references, 1 baseline


def test_a_competition_closed_by_its_last_phase_gets_its_close_time_report(
    migrated_db, monkeypatch
):
    """No status changes when the last phase ends: the worker reads the competition as closed,
    and the first read of a report older than the end queues a fresh one (once)."""
    from datetime import UTC, datetime, timedelta

    from core.competition_config import PhaseConfig
    from server.services import validity as service

    now = datetime.now(UTC)
    cfg = tiny_config("validity-phases", n_models=8)
    cfg.phases = [
        PhaseConfig(name="main", start=now - timedelta(days=2), end=now + timedelta(days=1))
    ]
    with session_scope() as s:
        comp_id = seed_competition(s, cfg).id
    run_preparation(comp_id, get_settings(), inline=True)
    with session_scope() as s:
        comp = s.get(Competition, comp_id)
        assert load_validity(comp.validity).agreements[0].note == "computed at the close"
        ended = cfg.model_copy(deep=True)
        ended.phases[0].end = now - timedelta(hours=1)  # the last phase is over
        comp.config = ended.model_dump(mode="json")
        earlier = (now - timedelta(hours=2)).isoformat()  # the report predates the end
        comp.validity = {**comp.validity, "computed_at": earlier}
    queued = []
    monkeypatch.setattr(
        service, "enqueue_validity", lambda cid, why: queued.append((cid, why)) or True
    )
    with TestClient(create_app()) as client:
        for _ in range(2):  # anyone may read it now; the refresh is queued once
            assert client.get("/api/v1/competitions/validity-phases/validity").status_code == 200
    assert queued == [(comp_id, "close")]
    assert run_validity(comp_id, get_settings(), "close") is not None  # what the queue runs
    with session_scope() as s:
        report = load_validity(s.get(Competition, comp_id).validity)
    boards = report.agreements[0]
    assert boards.key == "boards" and "at least 3 are needed" in boards.note  # closed: computed
