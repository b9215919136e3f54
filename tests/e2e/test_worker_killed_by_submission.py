"""A submission whose worker dies while running it, on every attempt, is the submission's failure:
`crashed`, counted against its author (never a free `infrastructure` failure), with that reason.
The machine's death is played by the test (SIGKILL of the worker's whole process group while the
run is inside unlearning()); the worker, sandbox, reaper, PostgreSQL and Redis are real."""

from __future__ import annotations

import os
import signal
import time

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from core.models import WorkChunk
from harness.platform import (
    running_platform,
    start_worker,
    stop_workers,
    tiny_config,
    wait_for_competition,
    wait_for_submission,
)
from harness.scenario import create_competition_in, participant, upload
from harness.services import clean_redis_url, fresh_postgres_database

pytestmark = [pytest.mark.e2e, pytest.mark.services]
SLOW = b"""
import time

def unlearning(net, retain_loader, forget_loader, val_loader):
    time.sleep(2.5)  # inside the budget; the worker is killed meanwhile
    return net
"""
ATTEMPTS = 2


def test_a_worker_lost_on_every_attempt_fails_the_submission_as_crashed(tmp_path):
    broker = clean_redis_url()
    with fresh_postgres_database() as db_url:
        sa_url = db_url.replace("postgresql://", "postgresql+psycopg://")
        config = tiny_config("killer")
        config.execution.hardware_class = "cpu-test"
        config.execution.fail_fast = False  # one chunk of all runs
        create_competition_in(sa_url, config)
        common = {
            "ARENA_VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": db_url,
            "BROKER_URL": broker,
            "ARENA_HEARTBEAT_SECONDS": "1",
            "ARENA_STALE_AFTER_SECONDS": "4",
            "ARENA_REAPER_INTERVAL_SECONDS": "1",
            "ARENA_MAX_ATTEMPTS": str(ATTEMPTS),
        }
        env = {
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")
        } | common
        # prepares the competition and reaps; never takes the submission's chunks
        keeper = start_worker(env | {"ARENA_HARDWARE_CLASS": "elsewhere"}, tmp_path / "keeper.log")
        engine = create_engine(sa_url)
        victims = []
        try:
            api_env = {**common, "ARENA_START_WORKER": "false"}
            with running_platform(api_env, tmp_path / "serve.log", require_worker=False) as url:
                preparer = start_worker(
                    env | {"ARENA_HARDWARE_CLASS": "cpu-test"}, tmp_path / "p.log"
                )
                victims.append(preparer)
                assert wait_for_competition(url, "killer", timeout=240)["status"] == "open"
                client = participant(url, "kim")
                sid = upload(client, "killer", "slow.py", SLOW)
                for attempt in range(ATTEMPTS):
                    worker = victims[-1]
                    deadline = time.monotonic() + 120
                    while True:  # the chunk runs on this worker, inside unlearning()
                        with Session(engine) as s:
                            chunk = s.scalars(
                                select(WorkChunk).where(
                                    WorkChunk.submission_id == sid,
                                    WorkChunk.status == "running",
                                    WorkChunk.attempts == attempt,
                                )
                            ).first()
                        if chunk is not None and f"arena-{worker.pid}@" in (chunk.worker or ""):
                            break
                        assert time.monotonic() < deadline, f"attempt {attempt} never started"
                        time.sleep(0.1)
                    time.sleep(0.5)
                    os.killpg(worker.pid, signal.SIGKILL)  # the machine is gone
                    worker.wait(timeout=10)
                    if attempt + 1 < ATTEMPTS:
                        victims.append(
                            start_worker(
                                env | {"ARENA_HARDWARE_CLASS": "cpu-test"},
                                tmp_path / f"w{attempt}.log",
                            )
                        )
                done = wait_for_submission(client, sid, timeout=120)
                assert done["status"] == "failed", done
                assert done["failure_reason"] == "crashed"
                assert done["counts_against_quota"] is True
                assert f"lost on each of its {ATTEMPTS} attempts" in done["failure_message"]
                health = client.get("/api/v1/health").json()
                assert any(w["alive"] for w in health["workers"])  # the platform carries on
        finally:
            stop_workers(keeper, *victims)
            engine.dispose()
