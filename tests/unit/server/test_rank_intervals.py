"""Rank intervals ("3rd, 95% between 2nd and 6th") on constructed boards: rows far apart get
width 0, identical rows the whole tied range; the API, the CSV and the page show them."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

import scoring
from core.db import session_scope
from core.models import Submission, User
from harness.platform import tiny_config
from server.app import create_app
from server.services.platform import seed_competition

N_MODELS = 4
N_FORGET = 200


def _entrants(slug: str, epsilons: list[list[float]]) -> None:
    with session_scope() as s:
        comp = seed_competition(s, tiny_config(slug))
        for i, eps in enumerate(epsilons):
            user = User(username=f"{slug}-{i}", password_hash="x")
            s.add(user)
            s.flush()
            points = scoring.epsilon_points(np.array(eps), N_MODELS)
            low, high = scoring.bootstrap_score_interval(points, 1.0, n_resamples=200)
            score = float(np.nanmean(points))
            s.add(
                Submission(
                    competition_id=comp.id,
                    user_id=user.id,
                    filename="m.py",
                    kind="py",
                    sha256="0" * 64,
                    size_bytes=1,
                    status="scored",
                    n_models=N_MODELS,
                    score=score,
                    score_ci_low=low,
                    score_ci_high=high,
                    retain_ratio=1.0,
                    test_ratio=1.0,
                    forgetting_quality=score,
                    scoring_version=1,
                    result={"epsilons": list(map(float, eps))},
                )
            )


@pytest.fixture(scope="module")
def client(migrated_db):
    rng = np.random.default_rng(3)
    # three entrants far apart (each example's ε constant per entrant), then two near each other
    _entrants("far-apart", [[0.0] * N_FORGET, [1.5] * N_FORGET, [4.0] * N_FORGET])
    same = rng.exponential(1.0, N_FORGET).tolist()
    _entrants("identical", [same, same, same, [6.0] * N_FORGET])
    with TestClient(create_app()) as c:
        yield c


def _ranked(client, slug: str, **query) -> list[dict]:
    r = client.get(f"/api/v1/competitions/{slug}/leaderboard", params=query)
    assert r.status_code == 200, r.text
    return [row for row in r.json()["rows"] if not row["reference"]]


def test_rows_far_apart_have_rank_intervals_of_width_zero(client):
    rows = _ranked(client, "far-apart")
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert [r["rank_interval"] for r in rows] == [[1, 1], [2, 2], [3, 3]]
    # a page of one row: the rows above it are counted as above, not resampled away
    second = _ranked(client, "far-apart", per_page=1, page=2)
    assert second[0]["rank"] == 2 and second[0]["rank_interval"] == [2, 2]


def test_identical_rows_share_the_whole_tied_range(client):
    rows = _ranked(client, "identical")
    assert [r["rank_interval"] for r in rows[:3]] == [[1, 3], [1, 3], [1, 3]]
    assert rows[3]["rank_interval"] == [4, 4]
    csv = client.get("/api/v1/competitions/identical/leaderboard.csv").text.splitlines()
    header = csv[0].split(",")
    first = dict(zip(header, csv[1].split(","), strict=False))
    assert (first["rank_low"], first["rank_high"]) == ("1", "3")
    page = client.get("/c/identical/leaderboard").text
    assert "(1–3)" in page and "rank it between 1 and 3" in page


def test_the_library_function_on_its_own():
    far = scoring.rank_intervals([[1.0] * 50, [0.2] * 50], [1.0, 1.0], above=4)
    assert far == [(5, 5), (6, 6)]
    rng = np.random.default_rng(0)
    noisy = rng.uniform(0, 1, (5, 30))  # five close rows on few examples: wide intervals
    intervals = scoring.rank_intervals(noisy, np.ones(5), n_resamples=300)
    assert all(1 <= lo <= hi <= 5 for lo, hi in intervals)
    assert max(hi - lo for lo, hi in intervals) >= 2
