"""The same end-to-end path with DATABASE_URL/BROKER_URL set: real PostgreSQL and Redis."""

from __future__ import annotations

import pytest

from harness.platform import running_platform, tiny_config
from harness.scenario import create_competition_in
from harness.services import clean_redis_url, fresh_postgres_database
from tests.e2e.scenario import run_scenario

pytestmark = [pytest.mark.e2e, pytest.mark.services]


def test_submission_scored_end_to_end_on_postgres_and_redis(tmp_path):
    broker = clean_redis_url()
    with fresh_postgres_database() as db_url:
        create_competition_in(
            db_url.replace("postgresql://", "postgresql+psycopg://"), tiny_config("tiny-services")
        )
        env = {"ARENA_VAR_DIR": str(tmp_path / "var"), "DATABASE_URL": db_url, "BROKER_URL": broker}
        with running_platform(env, tmp_path / "serve.log") as url:
            run_scenario(url, "tiny-services", tmp_path, use_cli=False)
        log = (tmp_path / "serve.log").read_text()
        assert "redis://" in log and "postgresql+psycopg://" in log
