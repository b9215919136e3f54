"""Submission limits hold under concurrent uploads on every database: the embedded SQLite default
(the write lock taken before the first read, BEGIN IMMEDIATE) and PostgreSQL (a row lock per
entrant). Concurrent uploads from one account, and from the two members of one team, accept
exactly the daily limit, the total limit, the team's limit and the compute quota; the others get
429 with the reason, never a 5xx."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from harness.platform import running_platform, tiny_config
from harness.scenario import GOOD_SUBMISSION, create_competition_in, participant
from harness.services import clean_redis_url, fresh_postgres_database

pytestmark = [pytest.mark.e2e]


@contextlib.contextmanager
def _database(backend: str, tmp_path):
    if backend == "sqlite":
        var = tmp_path / "var"
        var.mkdir()
        url = f"sqlite:///{var / 'arena.db'}"
        yield url, {"ARENA_VAR_DIR": str(var)}
    else:
        broker = clean_redis_url()
        with fresh_postgres_database() as db_url:
            env = {
                "ARENA_VAR_DIR": str(tmp_path / "var"),
                "DATABASE_URL": db_url,
                "BROKER_URL": broker,
            }
            yield db_url.replace("postgresql://", "postgresql+psycopg://"), env


def _race(
    url: str, headers_list: list[dict], slug: str, n: int, threads: int
) -> list[httpx.Response]:
    def upload(i: int) -> httpx.Response:
        with httpx.Client(
            base_url=url, headers=headers_list[i % len(headers_list)], timeout=120
        ) as c:
            return c.post(
                f"/api/v1/competitions/{slug}/submissions",
                files={"file": (f"m{i}.py", GOOD_SUBMISSION)},
            )

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(upload, range(n)))


def _codes(answers: list[httpx.Response], accepted: int) -> None:
    codes = [r.status_code for r in answers]
    assert codes.count(202) == accepted, sorted(set(codes))
    assert codes.count(429) == len(codes) - accepted, sorted(set(codes))  # never a 5xx


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)]
)
def test_concurrent_uploads_accept_exactly_each_limit(tmp_path, backend):
    with _database(backend, tmp_path) as (db_url, env):
        daily = tiny_config("race")
        daily.limits.max_daily_submissions = 5
        total = tiny_config("race-total")
        total.limits.max_daily_submissions = 100
        total.limits.max_total_submissions = 3
        team = tiny_config("race-team")
        team.limits.max_daily_submissions = 4
        compute = tiny_config("race-compute")  # each upload reserves 4 runs x (3 s + 1 s) = 16 s
        compute.limits.max_daily_submissions = 100
        compute.limits.max_device_hours_per_day = 50 / 3600  # room for 3 reservations, not 4
        for cfg in (daily, total, team, compute):
            create_competition_in(db_url, cfg)
        env |= {"ARENA_START_WORKER": "false"}
        with running_platform(env, tmp_path / "serve.log", require_worker=False) as url:
            racer = participant(url, "racer")
            headers = dict(racer.headers)
            for slug in ("race", "race-total", "race-team", "race-compute"):
                assert racer.post(f"/api/v1/competitions/{slug}/rules/accept").status_code == 200

            answers = _race(url, [headers], "race", 60, 30)
            _codes(answers, 5)
            refused = next(r for r in answers if r.status_code == 429).json()["detail"]
            assert "submissions allowed today" in refused
            assert len(racer.get("/api/v1/competitions/race/submissions").json()) == 5
            assert racer.get("/api/v1/competitions/race").json()["limits"]["remaining_today"] == 0

            answers = _race(url, [headers], "race-total", 30, 30)
            _codes(answers, 3)
            assert "no more can be made" in next(r for r in answers if r.status_code == 429).text

            mate = participant(url, "mate")
            assert mate.post("/api/v1/competitions/race-team/rules/accept").status_code == 200
            made = racer.post("/api/v1/competitions/race-team/teams", json={"name": "pair"})
            assert made.status_code == 201, made.text
            tid = made.json()["id"]
            assert (
                racer.post(f"/api/v1/teams/{tid}/invites", json={"username": "mate"}).status_code
                == 201
            )
            assert mate.post(f"/api/v1/teams/{tid}/accept").status_code == 200
            answers = _race(url, [headers, dict(mate.headers)], "race-team", 40, 30)
            _codes(answers, 4)  # the team's limit, not each member's
            assert (
                "team 'pair'" in next(r for r in answers if r.status_code == 429).json()["detail"]
            )

            answers = _race(url, [headers], "race-compute", 40, 30)
            _codes(answers, 3)
            refused = next(r for r in answers if r.status_code == 429).json()["detail"]
            assert "compute quota" in refused
            limits = racer.get("/api/v1/competitions/race-compute").json()["limits"]
            assert limits["device_seconds_today"] == 48 and limits["remaining_today"] == 0
