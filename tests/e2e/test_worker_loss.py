"""Two workers score one submission together, each taking some of its chunks of runs; one is
killed with SIGKILL mid-way: the other finishes, and every run is recorded exactly once (runs
finished before the kill are kept, not rerun). Real PostgreSQL and Redis, two `arena worker`
processes, the API from `arena serve`."""

from __future__ import annotations

import os
import signal
import time

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from core.models import Run, Submission, WorkChunk
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
    time.sleep(0.5)
    return net
"""


def test_a_killed_worker_loses_nothing(tmp_path):
    broker = clean_redis_url()
    with fresh_postgres_database() as db_url:
        sa_url = db_url.replace("postgresql://", "postgresql+psycopg://")
        config = tiny_config("loss", n_models=12)
        config.execution.runs_per_chunk = 2  # a one-run probe, then 6 chunks for two workers
        config.execution.hardware_class = "cpu-test"  # the class that prepares and scores
        create_competition_in(sa_url, config)
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
        workers = [
            start_worker(env | {"ARENA_HARDWARE_CLASS": "cpu-test"}, tmp_path / f"worker{i}.log")
            for i in range(2)
        ]
        # a worker of another class takes coordination tasks, never this competition's chunks
        other = start_worker(env | {"ARENA_HARDWARE_CLASS": "elsewhere"}, tmp_path / "other.log")
        engine = create_engine(sa_url)
        try:
            api_env = {**common, "ARENA_START_WORKER": "false"}
            with running_platform(api_env, tmp_path / "serve.log", require_worker=False) as url:
                assert wait_for_competition(url, "loss", timeout=240)["status"] == "open"
                client = participant(url, "kim")
                sid = upload(client, "loss", "slow.py", SLOW)
                deadline = time.monotonic() + 120
                while True:  # both workers busy with chunks, and some runs done
                    with Session(engine) as s:
                        sub = s.get(Submission, sid)
                        running = s.scalars(
                            select(WorkChunk).where(
                                WorkChunk.submission_id == sid, WorkChunk.status == "running"
                            )
                        ).all()
                        if sub.runs_done >= 2 and len({c.worker for c in running}) == 2:
                            victim_chunk = running[0]
                            victim_name = victim_chunk.worker
                            before = {
                                r.index: r.finished_at
                                for r in s.scalars(select(Run).where(Run.submission_id == sid))
                                if r.status == "finished"
                            }
                            break
                    assert time.monotonic() < deadline, "the two workers never shared the work"
                    time.sleep(0.1)
                victim = next(w for w in workers if f"arena-{w.pid}@" in victim_name)
                os.killpg(victim.pid, signal.SIGKILL)  # the machine is gone
                victim.wait(timeout=10)

                done = wait_for_submission(client, sid, timeout=240)
                assert done["status"] == "scored", done
                with Session(engine) as s:
                    runs = s.scalars(
                        select(Run).where(Run.submission_id == sid).order_by(Run.index)
                    ).all()
                    assert [r.index for r in runs] == list(range(12))  # each run once
                    assert all(r.status == "finished" for r in runs)
                    for index, finished_at in before.items():  # kept, not rerun
                        assert runs[index].finished_at == finished_at
                    chunks = s.scalars(
                        select(WorkChunk).where(WorkChunk.submission_id == sid)
                    ).all()
                    assert all(c.status == "done" for c in chunks) and len(chunks) == 7
                    lost = s.get(WorkChunk, victim_chunk.id)
                    assert lost.attempts == 1 and lost.worker != victim_name  # retried elsewhere
                    survivor = {c.worker for c in chunks} - {victim_name}
                    assert len(survivor) == 1
                    every_chunk = s.scalars(select(WorkChunk)).all()  # references too
                    assert every_chunk and all(
                        f"arena-{other.pid}@" not in (c.worker or "") for c in every_chunk
                    )
                    assert {c.hardware_class for c in every_chunk} == {"cpu-test"}
                    assert s.get(Submission, sid).hardware_class == "cpu-test"
                assert done["runs_done"] == 12
        finally:
            engine.dispose()
            stop_workers(*workers, other)
