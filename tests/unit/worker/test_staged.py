"""Staged N: every submission is scored at the public N against the first references; at the
close the final picks run on up to the private N (reusing their first runs) and are scored
against all references for the private board."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.config_file import ConfigInvalid, parse_config_text
from core.db import session_scope
from core.models import Competition, Run, Submission, User
from core.settings import get_settings
from harness.platform import tiny_config
from server.app import create_app
from server.services.platform import seed_competition
from worker.jobs.prepare import run_preparation
from worker.jobs.score import run_private_stage, run_scoring

GOOD = b"def unlearning(net, retain_loader, forget_loader, val_loader):\n    return net\n"
NOISY = b"""
import torch

def unlearning(net, retain_loader, forget_loader, val_loader):
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return net
"""


@pytest.fixture(scope="module")
def client(migrated_db):
    staged = tiny_config("staged", n_models={"public": 4, "private": 8})
    staged.execution.runs_per_chunk = 3
    with session_scope() as s:
        cid = seed_competition(s, staged).id
        seed_competition(s, tiny_config("unstaged"))
    run_preparation(cid, get_settings(), inline=True)
    with TestClient(create_app()) as c:
        yield c


def _account(client: TestClient, name: str, role: str | None = None) -> dict[str, str]:
    assert (
        client.post("/api/v1/users", json={"username": name, "password": "pw-" * 4}).status_code
        == 201
    )
    if role:
        with session_scope() as s:
            s.scalar(select(User).where(User.username == name)).role = role
    token = client.post("/api/v1/tokens", json={"username": name, "password": "pw-" * 4}).json()
    return {"Authorization": f"Bearer {token['token']}"}


def _upload(client, headers, content: bytes) -> int:
    client.post("/api/v1/competitions/staged/rules/accept", headers=headers)
    r = client.post(
        "/api/v1/competitions/staged/submissions",
        files={"file": ("m.py", content)},
        headers=headers,
    )
    assert r.status_code == 202, r.text
    return r.json()["id"]


def test_staged_n_from_upload_to_the_private_board(client):
    admin = _account(client, "st-admin", role="admin")
    alice, bob = _account(client, "st-alice"), _account(client, "st-bob")
    comp = client.get("/api/v1/competitions/staged", headers=alice).json()
    assert (comp["n_models"], comp["n_models_private"]) == (4, 8)
    with session_scope() as s:
        refs = s.scalar(select(Competition).where(Competition.slug == "staged")).reference_summary
    # each board at its own N: the unchanged model against 4 and 8 references, and
    # retraining against itself, half against half
    assert refs["original"]["boards"]["public"]["n_models"] == 4
    assert refs["original"]["boards"]["private"]["n_models"] == 8
    assert refs["retrain"]["boards"]["public"]["n_models"] == 2
    assert refs["retrain"]["boards"]["private"]["n_models"] == 4
    assert refs["retrain"]["boards"]["public"]["name"] == "retrain, 2 vs 2"
    assert refs["retrain"]["boards"]["private"]["name"] == "retrain, 4 vs 4"

    ids = [_upload(client, alice, GOOD), _upload(client, bob, NOISY)]
    for sid in ids:
        run_scoring(sid, get_settings(), inline=True)
    public_scores = {}
    for sid, who in zip(ids, (alice, bob), strict=True):
        sub = client.get(f"/api/v1/submissions/{sid}", headers=admin).json()
        assert sub["status"] == "scored" and sub["runs_done"] == 4 and sub["n_models"] == 4
        assert sub["private_score"] is None and sub["private_stage"] is None
        public_scores[sid] = sub["score"]
        assert client.get(f"/api/v1/submissions/{sid}", headers=who).json()["score"] == sub["score"]
    board = client.get("/api/v1/competitions/staged/leaderboard", headers=admin).json()
    assert board["n_models"] == 4 and len([r for r in board["rows"] if not r["reference"]]) == 2
    private = client.get("/api/v1/competitions/staged/leaderboard?board=private", headers=admin)
    assert private.json()["n_models"] == 8
    assert [r for r in private.json()["rows"] if not r["reference"]] == []  # not run yet

    with session_scope() as s:
        first_runs = {
            (r.submission_id, r.index): r.finished_at
            for r in s.scalars(select(Run).where(Run.submission_id.in_(ids)))
        }
    r = client.post("/api/v1/competitions/staged/close", headers=admin)
    assert r.status_code == 200, r.text
    with session_scope() as s:
        stages = s.scalars(select(Submission.private_stage).where(Submission.id.in_(ids))).all()
    assert stages == ["queued", "queued"]  # closing started the private stage of the picks
    for sid in ids:
        run_private_stage(sid, get_settings(), inline=True)

    for sid in ids:
        sub = client.get(f"/api/v1/submissions/{sid}", headers=admin).json()
        assert sub["status"] == "scored" and sub["private_stage"] == "scored"
        assert sub["runs_done"] == 8 and sub["private_score"] is not None
        assert sub["score"] == public_scores[sid]  # the public board is untouched
    with session_scope() as s:
        runs = s.scalars(select(Run).where(Run.submission_id.in_(ids))).all()
        assert sorted((r.submission_id, r.index) for r in runs) == sorted(
            (sid, i) for sid in ids for i in range(8)
        )
        for run in runs:  # runs 0..3 were reused, not run again
            if run.index < 4:
                assert run.finished_at == first_runs[(run.submission_id, run.index)]
        result = s.get(Submission, ids[0]).result
    assert result["private_stage"]["n_models"] == 8
    assert (
        result["boards"]["private"]["n_models"] == 8 and result["boards"]["public"]["n_models"] == 4
    )
    private = client.get("/api/v1/competitions/staged/leaderboard?board=private").json()
    rows = [r for r in private["rows"] if not r["reference"]]
    assert len(rows) == 2 and all(r["score"] is not None for r in rows)  # published at the close

    again = client.post("/api/v1/competitions/staged/private-stage", headers=admin).json()
    assert again["queued"] == 0  # nothing left to run


def test_an_unstaged_competition_has_no_private_stage(client):
    admin = _account(client, "st-admin2", role="admin")
    r = client.post("/api/v1/competitions/unstaged/private-stage", headers=admin)
    assert r.status_code == 409 and "not staged" in r.json()["detail"]


def test_a_staged_n_must_be_ordered():
    text = tiny_config("bad-staged").model_dump_json()
    text = text.replace('"n_models":4', '"n_models":{"public":8,"private":4}')
    with pytest.raises(ConfigInvalid) as exc:
        parse_config_text(text)
    assert any("public must not be larger than private" in p for p in exc.value.problems)
