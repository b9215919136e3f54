"""Kill a worker with SIGKILL in the middle of a submission: a second worker finishes it, and
every run is recorded exactly once (runs finished before the kill are kept, not rerun).
Real PostgreSQL and Redis, two `arena worker` processes, the API from `arena serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from server.models import Run, Submission
from tests.e2e_scenario import create_competition_in, participant, upload
from tests.platform import (
    ROOT,
    running_platform,
    tiny_config,
    wait_for_competition,
    wait_for_submission,
)
from tests.services import clean_redis_url, fresh_postgres_database

pytestmark = [pytest.mark.e2e, pytest.mark.services]
ARENA = str(Path(sys.executable).parent / "arena")
SLOW = b"""
import time

def unlearning(net, retain_loader, forget_loader, val_loader):
    time.sleep(0.5)
    return net
"""


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [ARENA, "worker"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_a_killed_worker_loses_nothing(tmp_path):
    broker = clean_redis_url()
    with fresh_postgres_database() as db_url:
        sa_url = db_url.replace("postgresql://", "postgresql+psycopg://")
        create_competition_in(sa_url, tiny_config("loss", n_models=8))
        common = {
            "ARENA_VAR_DIR": str(tmp_path / "var"),  # shared artefact storage
            "DATABASE_URL": db_url,
            "BROKER_URL": broker,
            "ARENA_HEARTBEAT_SECONDS": "1",
            "ARENA_STALE_AFTER_SECONDS": "6",
            "ARENA_REAPER_INTERVAL_SECONDS": "1",
        }
        env = {
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")
        } | common
        workers = [_worker(env, tmp_path / f"worker{i}.log") for i in range(2)]
        engine = create_engine(sa_url)
        try:
            api_env = {**common, "ARENA_START_WORKER": "false"}
            with running_platform(api_env, tmp_path / "serve.log", require_worker=False) as url:
                assert wait_for_competition(url, "loss", timeout=240)["status"] == "open"
                client = participant(url, "kim")
                sid = upload(client, "loss", "slow.py", SLOW)
                deadline = time.monotonic() + 120
                while True:
                    with Session(engine) as s:
                        sub = s.get(Submission, sid)
                        if sub.status == "running" and sub.runs_done >= 2 and sub.worker:
                            victim_name = sub.worker
                            before = {
                                r.index: r.finished_at
                                for r in s.scalars(select(Run).where(Run.submission_id == sid))
                                if r.status == "finished"
                            }
                            break
                    assert time.monotonic() < deadline, "the submission never got going"
                    time.sleep(0.2)
                victim = next(w for w in workers if f"arena-{w.pid}@" in victim_name)
                os.killpg(victim.pid, signal.SIGKILL)  # the machine is gone
                victim.wait(timeout=10)

                done = wait_for_submission(client, sid, timeout=240)
                assert done["status"] == "scored", done
                with Session(engine) as s:
                    sub = s.get(Submission, sid)
                    runs = s.scalars(
                        select(Run).where(Run.submission_id == sid).order_by(Run.index)
                    ).all()
                    assert [r.index for r in runs] == list(range(8))  # each run once
                    assert all(r.status == "finished" for r in runs)
                    assert sub.attempts == 1 and sub.worker != victim_name
                    for index, finished_at in before.items():  # kept, not rerun
                        assert runs[index].finished_at == finished_at
                assert done["runs_done"] == 8
        finally:
            engine.dispose()
            for w in workers:
                if w.poll() is None:
                    os.killpg(w.pid, signal.SIGTERM)
                    try:
                        w.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        os.killpg(w.pid, signal.SIGKILL)
