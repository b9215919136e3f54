"""The daily submission limit and the compute quota hold under concurrent uploads, on
PostgreSQL (row lock per entrant)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e_scenario import GOOD_SUBMISSION, create_competition_in, participant
from tests.platform import running_platform, tiny_config
from tests.services import clean_redis_url, fresh_postgres_database

pytestmark = [pytest.mark.e2e, pytest.mark.services]


def test_200_concurrent_uploads_against_a_limit_of_5_accept_exactly_5(tmp_path):
    broker = clean_redis_url()
    with fresh_postgres_database() as db_url:
        cfg = tiny_config("race")
        cfg.limits.max_daily_submissions = 5
        create_competition_in(db_url.replace("postgresql://", "postgresql+psycopg://"), cfg)
        compute = tiny_config("race-compute")  # each upload reserves 4 runs x (3 s + 1 s) = 16 s
        compute.limits.max_daily_submissions = 100
        compute.limits.max_device_hours_per_day = 50 / 3600  # room for 3 reservations, not 4
        create_competition_in(db_url.replace("postgresql://", "postgresql+psycopg://"), compute)
        env = {
            "ARENA_VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": db_url,
            "BROKER_URL": broker,
            "ARENA_START_WORKER": "false",
        }
        with running_platform(env, tmp_path / "serve.log", require_worker=False) as url:
            client = participant(url, "racer")
            headers = dict(client.headers)
            assert client.post("/api/v1/competitions/race/rules/accept").status_code == 200

            def upload(i: int) -> int:
                with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
                    r = c.post(
                        "/api/v1/competitions/race/submissions",
                        files={"file": (f"m{i}.py", GOOD_SUBMISSION)},
                    )
                    return r.status_code

            with ThreadPoolExecutor(max_workers=40) as pool:
                codes = list(pool.map(upload, range(200)))
            assert codes.count(202) == 5, sorted(set(codes))
            assert codes.count(429) == 195
            mine = client.get("/api/v1/competitions/race/submissions").json()
            assert len(mine) == 5
            comp = client.get("/api/v1/competitions/race").json()
            assert comp["limits"]["remaining_today"] == 0

            assert client.post("/api/v1/competitions/race-compute/rules/accept").status_code == 200

            def upload_compute(i: int) -> httpx.Response:
                with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
                    return c.post(
                        "/api/v1/competitions/race-compute/submissions",
                        files={"file": (f"c{i}.py", GOOD_SUBMISSION)},
                    )

            with ThreadPoolExecutor(max_workers=30) as pool:
                answers = list(pool.map(upload_compute, range(60)))
            codes = [r.status_code for r in answers]
            assert codes.count(202) == 3 and codes.count(429) == 57, sorted(set(codes))
            refused = next(r for r in answers if r.status_code == 429).json()["detail"]
            assert "compute quota" in refused
            limits = client.get("/api/v1/competitions/race-compute").json()["limits"]
            assert limits["device_seconds_today"] == 48 and limits["remaining_today"] == 0
