"""Organizers and participants through the API, on SQLite and on PostgreSQL: a competition
from a YAML file, its hidden dataset, preparation, opening, rules, teams, limits, final picks,
moderation, public/private leaderboards, CSV export, rescoring and closing. The worker's jobs
run in process (the real sandbox, no Celery); every wrong input asserts its status and message."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from sqlalchemy import select

from core.db import session_scope
from core.models import Competition, Role, Submission
from core.settings import get_settings
from harness.services import fresh_postgres_database
from tests.organizer_flow import (
    FINETUNE,
    IDENTITY,
    account,
    app_on,
    competition_yaml,
    dataset_npz,
)
from worker.jobs.prepare import run_preparation
from worker.jobs.rescore import run_rescoring
from worker.jobs.score import run_scoring

API = "/api/v1"
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture(params=["sqlite", "postgres"])
def client(request, tmp_path):
    if request.param == "sqlite":
        with app_on(f"sqlite:///{tmp_path / 'arena.db'}", tmp_path / "var") as c:
            yield c
    else:
        with fresh_postgres_database() as url, app_on(url, tmp_path / "var") as c:
            yield c


def _detail(r) -> str:
    return r.json()["detail"]


def _competition_id(slug: str) -> int:
    with session_scope() as s:
        return s.scalar(select(Competition.id).where(Competition.slug == slug))


def _submit(client, headers, content=IDENTITY, name="method.py", slug="grouped"):
    return client.post(
        f"{API}/competitions/{slug}/submissions", files={"file": (name, content)}, headers=headers
    )


def _score_queued() -> None:
    with session_scope() as s:
        ids = s.scalars(select(Submission.id).where(Submission.status == "queued")).all()
    for sid in ids:
        run_scoring(sid, get_settings(), inline=True)


def test_a_competition_from_file_to_private_leaderboard(client):
    admin = account(client, "root", Role.ADMIN)
    olga = account(client, "olga", Role.ORGANIZER)
    otto = account(client, "otto", Role.ORGANIZER)
    pat, quinn, rita = (account(client, n) for n in ("pat", "quinn", "rita"))

    # --- creating: only organizers; a wrong file lists every problem by its path ---------
    r = client.post(
        f"{API}/competitions", content=competition_yaml("grouped"), headers={**pat, **YAML}
    )
    assert r.status_code == 403 and "organizer role" in _detail(r)
    bad = competition_yaml("grouped") + (
        "phases:\n  - {name: dev, start: 2027-01-02T00:00:00Z, end: 2027-01-01T00:00:00Z}\n"
    )
    r = client.post(f"{API}/competitions", content=bad, headers={**olga, **YAML})
    assert r.status_code == 422 and "phases[0].end: before phases[0].start" in _detail(r)
    r = client.post(
        f"{API}/competitions",
        content=competition_yaml("grouped").replace("hidden: 16", "hiden: 16"),
        headers={**olga, **YAML},
    )
    assert r.status_code == 422 and "model.hiden: is not a known setting" in r.json()["problems"][0]
    r = client.post(f"{API}/competitions", content="slug: [oops", headers={**olga, **YAML})
    assert r.status_code == 422 and "line 1" in _detail(r) and "not valid YAML" in _detail(r)
    r = client.post(
        f"{API}/competitions",
        content="slug: x\nsplit: {test_fraction: 2}\n",
        headers={**olga, **YAML},
    )
    problems = r.json()["problems"]
    assert r.status_code == 422 and any(p.startswith("slug:") for p in problems)
    assert any(p.startswith("title: is required") for p in problems)
    assert any(p.startswith("split.test_fraction:") for p in problems)

    r = client.post(
        f"{API}/competitions", content=competition_yaml("grouped"), headers={**olga, **YAML}
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "draft" and r.json()["you_organize"] is True
    r = client.post(
        f"{API}/competitions", content=competition_yaml("grouped"), headers={**olga, **YAML}
    )
    assert r.status_code == 409 and "exists already" in _detail(r)

    # --- the dataset: organizers only, validated, never served ---------------------------
    r = client.post(f"{API}/competitions/grouped/prepare", headers=olga)
    assert r.status_code == 409 and "Upload the dataset" in _detail(r)

    def upload(data: bytes, headers=olga, name="data.npz"):
        return client.put(
            f"{API}/competitions/grouped/dataset", files={"file": (name, data)}, headers=headers
        )

    r = upload(dataset_npz(), headers=otto)
    assert r.status_code == 403 and "Only the organizers of 'grouped'" in _detail(r)
    for data, status, fragment in [
        (b"not a zip at all", 422, "not an .npz"),
        (dataset_npz(y=np.full(300, 12, dtype=np.int64)), 422, "labels must lie in 0..9"),
        (dataset_npz(y=np.zeros(299, dtype=np.int64)), 422, "x has 300 rows but y has 299"),
        (
            dataset_npz(x=np.full((300, 1, 8, 8), np.nan, dtype=np.float32)),
            422,
            "NaN or infinite",
        ),
        (dataset_npz(x=np.zeros((300, 64), dtype=np.float32)), 422, "needs images"),
        (dataset_npz(group=np.array(["a"] * 300, dtype=object)), 422, "object arrays"),
        (dataset_npz(group=None, y=None), 422, "'y' is missing"),
    ]:
        r = upload(data)
        assert r.status_code == status and fragment in _detail(r), (fragment, r.text)
    settings = get_settings()
    saved, settings.max_dataset_bytes = settings.max_dataset_bytes, 1000
    try:
        r = upload(dataset_npz())
        assert r.status_code == 413 and "ARENA_MAX_DATASET_BYTES" in _detail(r)
    finally:
        settings.max_dataset_bytes = saved
    r = upload(dataset_npz(), name="data.csv")
    assert r.status_code == 415 and ".npz" in _detail(r)

    r = upload(dataset_npz())
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["n_examples"] == 300 and summary["input_shape"] == [1, 8, 8]
    assert sum(summary["class_counts"]) == 300 and summary["n_groups"] == 30
    sizes = summary["split_sizes"]
    assert sizes["retain"] + sizes["forget"] == sizes["train"] and sizes["forget"] > 0
    assert len(summary["sha256"]) == 64
    assert client.get(f"{API}/competitions/grouped/dataset", headers=pat).status_code == 403

    # --- lifecycle: open needs a finished preparation; nobody submits to a draft ---------
    r = client.post(f"{API}/competitions/grouped/open", headers=olga)
    assert r.status_code == 409 and "needs a finished preparation" in _detail(r)
    r = _submit(client, pat)
    assert r.status_code == 409 and "not open yet" in _detail(r)
    assert client.post(f"{API}/competitions/grouped/prepare", headers=otto).status_code == 403
    r = client.post(f"{API}/competitions/grouped/prepare", headers=olga)
    assert r.status_code == 202 and r.json()["status"] == "preparing"
    assert r.json()["preparation"]["total"] == 4
    run_preparation(_competition_id("grouped"), get_settings(), inline=True)
    assert client.get(f"{API}/competitions/grouped").status_code == 404  # not published yet
    comp = client.get(f"{API}/competitions/grouped", headers=olga).json()
    assert comp["status"] == "ready" and comp["budgets"][0]["budget_seconds"] >= 1.5
    assert comp["data"]["split_sizes"] == sizes and comp["data"]["input_shape"] == [1, 8, 8]
    r = client.post(f"{API}/competitions/grouped/open", headers=olga)
    assert r.status_code == 200 and r.json()["status"] == "open"

    # --- rules, upload kinds, teams --------------------------------------------------------
    r = _submit(client, pat)
    assert r.status_code == 403 and "Accept the rules" in _detail(r)
    for who in (pat, quinn, rita):
        assert (
            client.post(f"{API}/competitions/grouped/rules/accept", headers=who).status_code == 200
        )
    assert client.get(f"{API}/competitions/grouped", headers=pat).json()["rules_accepted"] is True
    nb = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    r = _submit(client, pat, nb, "m.ipynb")
    assert 400 <= r.status_code < 500 and (
        ".py files only" in _detail(r) or "notebook" in _detail(r)
    )

    first = _submit(client, pat, FINETUNE)
    assert first.status_code == 202, first.text
    team = client.post(f"{API}/competitions/grouped/teams", json={"name": "pq"}, headers=pat).json()
    r = client.post(f"{API}/teams/{team['id']}/invites", json={"username": "nobody"}, headers=pat)
    assert r.status_code == 404 and "No user 'nobody'" in _detail(r)
    r = client.post(f"{API}/teams/{team['id']}/accept", headers=quinn)
    assert r.status_code == 403 and "no invitation" in _detail(r)
    assert (
        client.post(
            f"{API}/teams/{team['id']}/invites", json={"username": "quinn"}, headers=pat
        ).status_code
        == 201
    )
    r = client.post(f"{API}/teams/{team['id']}/accept", headers=quinn)
    assert r.status_code == 200 and r.json()["members"] == ["pat", "quinn"]
    r = client.post(f"{API}/teams/{team['id']}/leave", headers=pat)
    assert r.status_code == 409 and "cannot leave" in _detail(r)

    second = _submit(client, quinn, IDENTITY)
    assert second.status_code == 202
    comp = client.get(f"{API}/competitions/grouped", headers=quinn).json()
    assert comp["limits"]["entrant"] == "pq" and comp["limits"]["used_total"] == 2
    assert comp["limits"]["remaining_total"] == 1
    third = _submit(client, pat, FINETUNE)
    assert third.status_code == 202
    r = _submit(client, quinn)
    assert r.status_code == 429 and "team 'pq' used all 3 submissions" in _detail(r)
    solo = _submit(client, rita, FINETUNE)
    assert solo.status_code == 202
    # a participant cancels their own queued submission; nobody else's
    extra = _submit(client, rita).json()["id"]
    r = client.post(f"{API}/submissions/{extra}/cancel", headers=pat)
    assert r.status_code == 404
    r = client.post(f"{API}/submissions/{extra}/cancel", headers=rita)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["counts_against_quota"] is False

    _score_queued()
    for sid in (first.json()["id"], second.json()["id"], third.json()["id"], solo.json()["id"]):
        sub = client.get(f"{API}/submissions/{sid}", headers=olga).json()
        assert sub["status"] == "scored", (sub["failure_reason"], sub["failure_message"])
        assert sub["private_score"] is not None and sub["scoring_version"] == 1
    # quinn reads the team's submissions, but not the private scores before the close
    mine = client.get(f"{API}/competitions/grouped/submissions", headers=quinn).json()
    assert len(mine) == 3 and {s["team"] for s in mine} == {"pq"}
    assert all(s["private_score"] is None for s in mine)
    assert all(s["overall_score"] is None for s in mine)
    organizer_view = client.get(f"{API}/submissions/{first.json()['id']}", headers=olga).json()
    assert organizer_view["overall_score"] is not None
    assert client.get(f"{API}/submissions/{solo.json()['id']}", headers=pat).status_code == 404
    r = client.get(f"{API}/submissions/{solo.json()['id']}/logs", headers=rita)
    assert r.status_code == 403 and "organizers only" in _detail(r)
    r = client.get(f"{API}/submissions/{solo.json()['id']}/logs", headers=otto)
    assert r.status_code == 404  # an organizer of another competition reads nothing
    assert (
        client.get(f"{API}/submissions/{solo.json()['id']}/logs", headers=olga).status_code == 200
    )

    # --- leaderboards: one row per entrant; private for organizers only until the close --
    board = client.get(f"{API}/competitions/grouped/leaderboard").json()
    names = [row["name"] for row in board["rows"] if not row["reference"]]
    assert sorted(names) == ["pq", "rita"] and board["board"] == "public"
    assert {row["name"] for row in board["rows"] if row["reference"]} == {
        "retrain, 2 vs 2",
        "original model (do nothing)",
    }
    pq = next(row for row in board["rows"] if row["name"] == "pq")
    assert pq["team"] is True and pq["submissions"] == 3
    for who in (None, pat):
        r = client.get(f"{API}/competitions/grouped/leaderboard?board=private", headers=who or {})
        assert r.status_code == 403 and "published when the phase closes" in _detail(r)
    private = client.get(f"{API}/competitions/grouped/leaderboard?board=private", headers=olga)
    assert private.status_code == 200 and private.json()["board"] == "private"

    # final picks: at most max_final_submissions (1 here)
    r = client.post(
        f"{API}/submissions/{first.json()['id']}/final", json={"final": True}, headers=quinn
    )
    assert r.status_code == 200 and r.json()["is_final"] is True
    r = client.post(
        f"{API}/submissions/{third.json()['id']}/final", json={"final": True}, headers=pat
    )
    assert r.status_code == 409 and "the limit" in _detail(r)
    r = client.post(
        f"{API}/submissions/{solo.json()['id']}/final", json={"final": True}, headers=pat
    )
    assert r.status_code == 404

    # CSV: the public board for anyone (logged out too), the private one for organizers
    r = client.get(f"{API}/competitions/grouped/leaderboard.csv")
    assert r.status_code == 200 and r.text.startswith("rank,name,team,score")
    r = client.get(f"{API}/competitions/grouped/leaderboard.csv?board=private", headers=pat)
    assert r.status_code == 403
    r = client.get(f"{API}/competitions/grouped/leaderboard.csv?board=private", headers=olga)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["name"] for row in rows} >= {"pq", "rita"} and "score_ci_low" in rows[0]

    # --- moderation ------------------------------------------------------------------------
    r = client.post(
        f"{API}/competitions/grouped/disqualifications",
        json={"username": "rita", "reason": "two accounts"},
        headers=pat,
    )
    assert r.status_code == 403
    shared = client.get(f"{API}/competitions/grouped/shared-addresses", headers=olga).json()
    assert any({"pat", "rita"} <= set(group["accounts"]) for group in shared)
    r = client.post(
        f"{API}/competitions/grouped/disqualifications",
        json={"username": "rita", "reason": "two accounts"},
        headers=olga,
    )
    assert r.status_code == 201
    board = client.get(f"{API}/competitions/grouped/leaderboard").json()
    assert [row["name"] for row in board["rows"] if not row["reference"]] == ["pq"]

    # --- rescoring after a change of ε rules: from stored outputs, versioned ---------------
    changed = competition_yaml("grouped").replace(
        "bootstrap_resamples: 100}", "bootstrap_resamples: 100, rules: exact}"
    )
    r = client.put(f"{API}/competitions/grouped", content=changed, headers={**otto, **YAML})
    assert r.status_code == 403
    r = client.put(f"{API}/competitions/grouped", content=changed, headers={**olga, **YAML})
    assert r.status_code == 200 and r.json()["changed"] == ["scoring"]
    assert r.json()["status"] == "open"
    r = client.post(f"{API}/competitions/grouped/rescore", json={"rerun": False}, headers=olga)
    assert r.status_code == 202 and r.json()["scoring_version"] == 2
    assert r.json()["submissions"] == 4
    stale = client.get(f"{API}/competitions/grouped/leaderboard").json()
    assert [row for row in stale["rows"] if not row["reference"]] == []  # until rescored
    run_rescoring(_competition_id("grouped"), get_settings())
    board = client.get(f"{API}/competitions/grouped/leaderboard").json()
    assert board["scoring_version"] == 2
    assert [row["name"] for row in board["rows"] if not row["reference"]] == ["pq"]
    sub = client.get(f"{API}/submissions/{first.json()['id']}", headers=pat).json()
    assert sub["scoring_version"] == 2 and sub["code_version"]
    with session_scope() as s:
        result = s.get(Submission, first.json()["id"]).result
        assert result["rules"] == "exact" and result["scoring"]["settings"]["rules"] == "exact"

    # --- closing publishes the private board; audit log has every organizer action ---------
    assert client.post(f"{API}/competitions/grouped/close", headers=otto).status_code == 403
    r = client.post(f"{API}/competitions/grouped/close", headers=olga)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = _submit(client, pat)
    assert r.status_code == 409 and "closed" in _detail(r)
    private = client.get(f"{API}/competitions/grouped/leaderboard?board=private").json()
    pq = next(row for row in private["rows"] if row["name"] == "pq")
    assert pq["submission_id"] == first.json()["id"]  # the final pick, not the best public one
    public = client.get(f"{API}/competitions/grouped/leaderboard").json()
    public_rank = {row["name"]: row["rank"] for row in public["rows"] if not row["reference"]}
    for row in (r for r in private["rows"] if not r["reference"]):  # the shake-up, per row
        assert row["public_rank"] == public_rank[row["name"]]
    assert all(row["public_rank"] is None for row in public["rows"])
    sub = client.get(f"{API}/submissions/{first.json()['id']}", headers=pat).json()
    assert sub["private_score"] is not None
    from server.web.session import SESSION_COOKIE

    client.cookies.set(SESSION_COOKIE, pat["Authorization"].split()[1])
    page = client.get("/c/grouped/submissions")
    client.cookies.clear()
    assert "Private score" in page.text and f"{sub['private_score']:.4f}" in page.text
    audit = client.get(f"{API}/competitions/grouped/audit", headers=olga).json()
    actions = [e["action"] for e in audit]
    for action in (
        "competition_created",
        "dataset_uploaded",
        "preparation_started",
        "preparation_finished",
        "competition_opened",
        "disqualified",
        "config_updated",
        "rescore_requested",
        "rescoring_finished",
        "competition_closed",
    ):
        assert action in actions, (action, actions)
    dq = next(e for e in audit if e["action"] == "disqualified")
    assert dq["actor"] == "olga" and dq["detail"]["reason"] == "two accounts"
    assert client.get(f"{API}/competitions/grouped/audit", headers=pat).status_code == 403
    assert client.get(f"{API}/competitions/grouped/audit", headers=admin).status_code == 200


@pytest.fixture
def sqlite_client(tmp_path):
    with app_on(f"sqlite:///{tmp_path / 'arena.db'}", tmp_path / "var") as c:
        yield c


def test_phases_limits_and_tokens(sqlite_client):
    client = sqlite_client
    olga = account(client, "olga", Role.ORGANIZER)
    pat = account(client, "pat")
    text = competition_yaml("phased").replace(
        "source: upload, n_classes: 10",
        "source: builtin, loader: sklearn_digits_image, max_examples: 300",
    )
    text = text.replace("forget_size: null, forget_groups: 3", "forget_size: 20")
    text += (
        "phases:\n"
        "  - {name: past, start: 2020-01-01T00:00:00Z, end: 2020-02-01T00:00:00Z}\n"
        "  - {name: future, start: 2999-01-01T00:00:00Z, max_daily_submissions: 1}\n"
    )
    r = client.post(f"{API}/competitions", content=text, headers={**olga, **YAML})
    assert r.status_code == 201, r.text
    comp = r.json()
    assert [p["name"] for p in comp["phases"]] == ["past", "future"]
    assert comp["current_phase"] is None and comp["leaderboards"] == ["past", "future"]
    assert comp["data"]["split_sizes"]["forget"] == 20
    # a ready competition opens; no phase is running, so uploads are refused with the next start
    with session_scope() as s:
        s.scalar(select(Competition).where(Competition.slug == "phased")).status = "ready"
    assert client.post(f"{API}/competitions/phased/open", headers=olga).json()["status"] == "open"
    client.post(f"{API}/competitions/phased/rules/accept", headers=pat)
    r = _submit(client, pat, slug="phased")
    assert r.status_code == 409 and "'future', starts at 2999-01-01" in _detail(r)
    r = client.get(f"{API}/competitions/phased/leaderboard?phase=nope")
    assert r.status_code == 404 and "past, future" in _detail(r)
    # the past phase has ended: its private board is public
    assert (
        client.get(f"{API}/competitions/phased/leaderboard?phase=past&board=private").status_code
        == 200
    )

    # tokens: listed and revoked
    tokens = client.get(f"{API}/tokens", headers=pat).json()
    assert len(tokens) == 1
    assert client.delete(f"{API}/tokens/{tokens[0]['id']}", headers=pat).status_code == 200
    r = client.get(f"{API}/me", headers=pat)
    assert r.status_code == 401 and "revoked" in _detail(r)


def test_a_data_change_needs_a_new_preparation_and_a_rerun(sqlite_client):
    client = sqlite_client
    olga = account(client, "olga", Role.ORGANIZER)
    pat = account(client, "pat")
    text = competition_yaml("rerun").replace(
        "source: upload, n_classes: 10",
        "source: builtin, loader: sklearn_digits_image, max_examples: 300",
    )
    text = text.replace("forget_size: null, forget_groups: 3", "forget_size: 20")
    assert (
        client.post(f"{API}/competitions", content=text, headers={**olga, **YAML}).status_code
        == 201
    )
    client.post(f"{API}/competitions/rerun/prepare", headers=olga)
    run_preparation(_competition_id("rerun"), get_settings(), inline=True)
    client.post(f"{API}/competitions/rerun/open", headers=olga)
    client.post(f"{API}/competitions/rerun/rules/accept", headers=pat)
    sid = _submit(client, pat, FINETUNE, slug="rerun").json()["id"]
    _score_queued()
    before = client.get(f"{API}/submissions/{sid}", headers=pat).json()
    assert before["status"] == "scored" and before["scoring_version"] == 1

    changed = text.replace("epochs: 8", "epochs: 4")
    r = client.put(f"{API}/competitions/rerun", content=changed, headers={**olga, **YAML})
    assert r.json()["changed"] == ["recipe"] and r.json()["status"] == "draft"
    assert "prepare the competition again" in r.json()["status_message"]
    r = client.post(f"{API}/competitions/rerun/rescore", json={"rerun": True}, headers=olga)
    assert r.status_code == 409 and "prepare it first" in _detail(r)
    client.post(f"{API}/competitions/rerun/prepare", headers=olga)
    run_preparation(_competition_id("rerun"), get_settings(), inline=True)
    r = client.post(f"{API}/competitions/rerun/rescore", json={"rerun": True}, headers=olga)
    assert r.status_code == 202 and r.json() == {
        "scoring_version": 2,
        "rerun": True,
        "submissions": 1,
    }
    queued = client.get(f"{API}/submissions/{sid}", headers=pat).json()
    assert queued["status"] == "queued" and queued["runs"] == []
    _score_queued()
    after = client.get(f"{API}/submissions/{sid}", headers=pat).json()
    assert after["status"] == "scored" and after["scoring_version"] == 2
    assert client.post(f"{API}/competitions/rerun/open", headers=olga).json()["status"] == "open"
    board = client.get(f"{API}/competitions/rerun/leaderboard").json()
    assert [row["name"] for row in board["rows"] if not row["reference"]] == ["pat"]
