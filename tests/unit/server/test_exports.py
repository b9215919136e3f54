"""What leaves through the exports (issue 32, docs/security.md "What a reader can read"): CSV
cells a spreadsheet reads as text, whatever the stored names and notes are. Generated stored
values (hypothesis), a real SQLite database, the HTTP API in process."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from decimal import Decimal

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from sqlalchemy import delete, update

from core.csvsafe import FORMULA_STARTS
from core.db import session_scope
from core.models import CompetitionBudget, Role, Run, Submission, Team, TeamMember, User
from harness.platform import tiny_config
from server.app import create_app
from server.services.platform import seed_competition
from server.services.users import create_user, issue_token
from server.web.session import SESSION_COOKIE

SLUG = "exports"
API = "/api/v1"
PASSWORD = "export-password"
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# stored text: anything, and text that begins like a formula
formula_like = st.builds(
    lambda lead, start, rest: lead + start + rest,
    st.text(" ", max_size=2),
    st.sampled_from(sorted(FORMULA_STARTS)),
    st.text(max_size=20),
)
stored_text = st.one_of(st.text(min_size=1, max_size=40), formula_like).filter(
    lambda t: "\x00" not in t  # PostgreSQL refuses NUL in text; SQLite keeps it
)


def _scored(comp_id: int, user_id: int, team_id: int | None, score: float) -> Submission:
    rng = np.random.default_rng(int(score * 1000))
    return Submission(
        competition_id=comp_id,
        user_id=user_id,
        team_id=team_id,
        filename="m.py",
        kind="py",
        sha256="0" * 64,
        size_bytes=1,
        status="scored",
        n_models=4,
        score=score,
        score_ci_low=score - 0.01,
        score_ci_high=score + 0.01,
        retain_ratio=1.0,
        test_ratio=1.0,
        forgetting_quality=score,
        scoring_version=1,
        message="note",
        result={"epsilons": rng.exponential(2.0, 24).tolist()},
    )


@pytest.fixture(scope="module")
def world(migrated_db):
    """``exports``: a team (author and mate) and a solo participant (other), each with a
    scored submission, an organizer who owns it, and everyone's API headers."""
    with session_scope() as s:
        comp = seed_competition(s, tiny_config(SLUG))
        for name, role in (
            ("x-author", Role.PARTICIPANT),
            ("x-mate", Role.PARTICIPANT),
            ("x-other", Role.PARTICIPANT),
            ("x-orga", Role.ORGANIZER),
        ):
            create_user(s, name, PASSWORD, role)
        users = {u.username: u for u in s.query(User).filter(User.username.like("x-%"))}
        comp.owner_id = users["x-orga"].id
        team = Team(competition_id=comp.id, name="x-crew")
        s.add(team)
        s.flush()
        for member in ("x-author", "x-mate"):
            s.add(TeamMember(team_id=team.id, competition_id=comp.id, user_id=users[member].id))
        mine = _scored(comp.id, users["x-author"].id, team.id, 0.3)
        theirs = _scored(comp.id, users["x-other"].id, None, 0.2)
        s.add_all([mine, theirs])
        s.commit()
        headers = {
            name.removeprefix("x-"): {"Authorization": f"Bearer {issue_token(s, name, PASSWORD)}"}
            for name in users
        }
        ids = {"team": team.id, "mine": mine.id, "theirs": theirs.id, "other": users["x-other"].id}
    with TestClient(create_app()) as client:
        yield {"client": client, "headers": headers, "ids": ids}


def _store(world, *, team_name=None, other_name=None, notes=None) -> None:
    ids = world["ids"]
    with session_scope() as s:
        if team_name is not None:
            s.execute(update(Team).where(Team.id == ids["team"]).values(name=team_name))
        if other_name is not None:
            s.execute(update(User).where(User.id == ids["other"]).values(username=other_name))
        for key, note in (notes or {}).items():
            s.execute(update(Submission).where(Submission.id == ids[key]).values(message=note))


def _csv_rows(world, who: str | None = None) -> list[dict[str, str]]:
    headers = world["headers"][who] if who else {}
    r = world["client"].get(f"{API}/competitions/{SLUG}/leaderboard.csv", headers=headers)
    assert r.status_code == 200, r.text
    return list(csv.DictReader(io.StringIO(r.text, newline="")))


def _starts_a_formula(value: str) -> bool:
    start = value.lstrip(" ")[:1]
    return bool(start) and start in FORMULA_STARTS


def _as_written(value: str) -> str:
    return "'" + value if _starts_a_formula(value) else value


@EXAMPLES
@given(team_name=stored_text, other_name=stored_text, note=stored_text)
def test_csv_cells_never_start_a_formula_and_round_trip(world, team_name, other_name, note):
    _store(world, team_name=team_name, other_name=other_name, notes={"mine": note})
    for who in (None, "orga"):
        rows = _csv_rows(world, who)
        for row in rows:  # the text cells (the numbers here are positive)
            assert not any(_starts_a_formula(v) for v in row.values()), row
        entrants = {r["name"]: r for r in rows if r["reference"] == "False"}
        assert set(entrants) == {_as_written(team_name), _as_written(other_name)}
        for row in entrants.values():
            assert not row["score"].startswith("'") and float(row["score"]) > 0
    mine = next(r for r in _csv_rows(world, "orga") if r["name"] == _as_written(team_name))
    assert mine["message"] == _as_written(note)


def notes(owner: str):
    """Notes told apart from the page around them (and from each other) by their prefix."""
    return st.builds(lambda body: f"nb-{owner}:" + body, stored_text)


def _contains(body: str, note: str) -> bool:
    """Whether ``body`` (JSON, CSV or HTML) carries ``note`` in any of their encodings."""
    forms = {note, json.dumps(note)[1:-1], str(escape(note)), _as_written(note)}
    return any(form in body for form in forms)


def _anonymous_and_other_views(world) -> dict[str, str]:
    client, ids = world["client"], world["ids"]
    other = world["headers"]["other"]
    cookie = {"cookie": f"{SESSION_COOKIE}={other['Authorization'].split()[1]}"}
    views = {}
    for who, headers, page_headers in (("anonymous", {}, {}), ("other", other, cookie)):
        for path in (
            f"{API}/competitions/{SLUG}/leaderboard",
            f"{API}/competitions/{SLUG}/leaderboard?sort=avg_gap",
            f"{API}/competitions/{SLUG}/leaderboard.csv",
            f"{API}/competitions/{SLUG}",
        ):
            r = client.get(path, headers=headers)
            assert r.status_code == 200, (who, path, r.text)
            views[f"{who} {path}"] = r.text
        for path in (f"/c/{SLUG}", f"/c/{SLUG}/leaderboard"):
            r = client.get(path, headers=page_headers)
            assert r.status_code == 200, (who, path)
            views[f"{who} {path}"] = r.text
        for sid in ("mine",) if who == "other" else ("mine", "theirs"):
            r = client.get(f"{API}/submissions/{ids[sid]}", headers=headers)
            assert r.status_code in (401, 404), (who, sid, r.status_code)
            views[f"{who} submission {sid}"] = r.text
            r = client.get(f"/s/{ids[sid]}", headers=page_headers, follow_redirects=False)
            assert r.status_code in (303, 404), (who, sid, r.status_code)
            views[f"{who} page {sid}"] = r.text
    r = client.get(f"{API}/competitions/{SLUG}/submissions", headers=other)
    views["other: their submissions"] = r.text
    return views


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mine=notes("mine"), theirs=notes("theirs"))
def test_notes_reach_only_their_authors_and_the_organizers(world, mine, theirs):
    _store(world, team_name="x-crew", other_name="x-other", notes={"mine": mine, "theirs": theirs})
    client, ids, headers = world["client"], world["ids"], world["headers"]
    for view, body in _anonymous_and_other_views(world).items():
        assert not _contains(body, mine), view
        if view.startswith("anonymous"):
            assert not _contains(body, theirs), view

    def note_in_csv(who: str, name: str) -> str:
        return next(r for r in _csv_rows(world, who) if r["name"] == name)["message"]

    for who in ("author", "mate"):  # the team's own note, not the other entrant's
        assert note_in_csv(who, "x-crew") == _as_written(mine)
        assert note_in_csv(who, "x-other") == ""
        sub = client.get(f"{API}/submissions/{ids['mine']}", headers=headers[who]).json()
        assert sub["message"] == mine
    assert note_in_csv("other", "x-other") == _as_written(theirs)
    assert note_in_csv("orga", "x-crew") == _as_written(mine)
    assert note_in_csv("orga", "x-other") == _as_written(theirs)
    for sid, note in (("mine", mine), ("theirs", theirs)):
        sub = client.get(f"{API}/submissions/{ids[sid]}", headers=headers["orga"]).json()
        assert sub["message"] == note
    page = client.get(
        f"/s/{ids['mine']}",
        headers={"cookie": f"{SESSION_COOKIE}={headers['author']['Authorization'].split()[1]}"},
    )
    assert page.status_code == 200 and str(escape(mine)) in page.text


# --- one precision for published times (server/precision.py) ---------------------------------

durations = st.one_of(
    st.floats(min_value=0, max_value=1e7), st.just(float("inf")), st.floats(0, 1, width=16)
)
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1))


def _time_fields(value, path=""):
    """(path, value) of every duration ('seconds' in the key) and time of day ('_at')."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict | list):
                yield from _time_fields(v, f"{path}.{k}")
            elif "seconds" in k or k.endswith("_at"):
                yield f"{path}.{k}", v
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _time_fields(v, f"{path}[{i}]")


def _published_time(path: str, value) -> bool:
    if value is None:
        return True
    if path.endswith("_at"):
        return isinstance(value, str) and "." not in value  # whole seconds
    return Decimal(repr(value)).as_tuple().exponent >= -1  # at most one decimal


def _store_times(world, values: list[float], times: list[datetime]) -> None:
    ids = world["ids"]
    with session_scope() as s:
        sub = s.get(Submission, ids["mine"])
        sub.device_seconds = values[0]
        sub.created_at, sub.started_at, sub.finished_at = times
        sub.result = {
            **(sub.result or {}),
            "elapsed_seconds": values[1],
            "budget_seconds": values[2],
            "run_seconds_median": values[3],
        }
        s.execute(delete(Run).where(Run.submission_id == sub.id))
        for i in range(2):
            s.add(
                Run(
                    submission_id=sub.id,
                    index=i,
                    seed=i,
                    status="finished",
                    seconds=values[4 + 3 * i],
                    budget_seconds=values[5 + 3 * i],
                    device_seconds=values[6 + 3 * i],
                    finished_at=times[2],
                )
            )
        s.execute(
            delete(CompetitionBudget).where(CompetitionBudget.competition_id == sub.competition_id)
        )
        s.add(
            CompetitionBudget(
                competition_id=sub.competition_id,
                hardware_class="cpu-test",
                original_seconds=values[10],
                budget_seconds=values[11],
            )
        )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(durations, min_size=12, max_size=12),
    times=st.lists(moments, min_size=3, max_size=3),
)
def test_every_published_time_is_at_the_published_precision(world, values, times):
    _store_times(world, values, sorted(times))
    client, ids, author = world["client"], world["ids"], world["headers"]["author"]
    answers = {
        "submission": client.get(f"{API}/submissions/{ids['mine']}", headers=author),
        "submissions": client.get(f"{API}/competitions/{SLUG}/submissions", headers=author),
        "board": client.get(f"{API}/competitions/{SLUG}/leaderboard"),
        "board (organizer)": client.get(
            f"{API}/competitions/{SLUG}/leaderboard", headers=world["headers"]["orga"]
        ),
        "compute": client.get(f"{API}/competitions/{SLUG}/compute", headers=author),
        "compute (organizer)": client.get(
            f"{API}/competitions/{SLUG}/compute", headers=world["headers"]["orga"]
        ),
    }
    budgets = client.get(f"{API}/competitions/{SLUG}").json()["budgets"]
    seen = 0
    for name, answer in answers.items():
        assert answer.status_code == 200, (name, answer.text)
        for path, value in _time_fields(answer.json()):
            seen += 1
            assert _published_time(path, value), (name, path, value)
    for path, value in _time_fields({"budgets": budgets}):
        assert _published_time(path, value), ("competition", path, value)
    assert seen > 15
    for row in _csv_rows(world):  # the CSV: the same published values
        assert "." not in row["last_submitted_at"]
    cookie = {"cookie": f"{SESSION_COOKIE}={author['Authorization'].split()[1]}"}
    for path in (f"/s/{ids['mine']}", f"/c/{SLUG}"):
        page = client.get(path, headers=cookie)
        assert page.status_code == 200
        for number in re.findall(r"(\d+\.\d+) s\b", page.text):  # durations on the pages
            assert len(number.split(".")[1]) <= 1, (path, number)


def test_anonymous_metrics_show_counts_not_sums(world):
    client = world["client"]
    anonymous = client.get("/metrics").text
    assert "arena_run_seconds_bucket" in anonymous and "arena_run_seconds_count" in anonymous
    assert "arena_run_seconds_sum" not in anonymous
    assert "arena_device_seconds" not in anonymous
    for who in ("author", "orga"):  # a token is not enough: an admin's is
        assert "_sum" not in client.get("/metrics", headers=world["headers"][who]).text
    with session_scope() as s:
        create_user(s, "x-admin", PASSWORD, Role.ADMIN)
        admin = {"Authorization": f"Bearer {issue_token(s, 'x-admin', PASSWORD)}"}
    full = client.get("/metrics", headers=admin).text
    assert "arena_run_seconds_sum" in full and "arena_device_seconds_total" in full


@given(values=st.lists(durations, min_size=5, max_size=5))
def test_the_validity_reports_times_are_at_the_published_precision(values):
    from core.validity import Planner, PlanRow, ValidityReport
    from server.services.validity import _published

    row = PlanRow(
        difference=0.1, submission_device_seconds=values[0], preparation_device_seconds=values[1]
    )
    planner = Planner(run_seconds_median=values[2], reference_seconds=values[3], rows=[row])
    report = ValidityReport(
        computed_at=datetime(2026, 1, 1, 0, 0, 0, 123456),
        trigger="close",
        seconds=values[4],
        rules="official",
    )
    shown = _published(report.model_copy(update={"planner": planner})).model_dump(mode="json")
    fields = list(_time_fields(shown))
    assert len(fields) == 6 and all(_published_time(p, v) for p, v in fields), fields
