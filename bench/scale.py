"""Scale-out: one submission of the demo scored by 2 workers versus 1 (target ≤ 0.55× the time).

Real PostgreSQL (a fresh database) and Redis; `arena serve` for the API (no local worker) and
`arena worker` processes, each pinned to its own CPU core (so the hardware class is
``cpu-1t`` for both). The demo competition at its public N = 64 (``--n`` for another; digits,
chunks of 8 runs after a one-run probe) is prepared by the first worker; then the same method (examples/finetune.py by default) is submitted
``--repeats`` times with one worker running, and as many times with two. The time of a
submission is from its upload to its score (the database's ``created_at`` and ``finished_at``).

    python bench/scale.py [--repeats 2] [--method examples/finetune.py] [--n 32] [--store file]

``--store file``: the API and each worker get var directories of their own and share files only
through an fsspec store (``ARENA_STORAGE_URL=file://…``, a folder none of them uses), as nodes
without a shared disk would; without it they share one var directory.

Needs two CPU cores, PostgreSQL at ARENA_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/postgres) and Redis at ARENA_TEST_REDIS_URL (default
redis://127.0.0.1:6379; one database is flushed). Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from core.competition_config import demo_config  # noqa: E402
from core.models import Run, Submission, WorkChunk  # noqa: E402
from harness.platform import (  # noqa: E402
    running_platform,
    start_worker,
    stop_workers,
    wait_for_competition,
)
from harness.scenario import create_competition_in, participant, upload  # noqa: E402
from harness.services import clean_redis_url, fresh_postgres_database  # noqa: E402


def live_workers(engine) -> int:
    from datetime import timedelta

    from core.models import WorkerHeartbeat, utcnow

    with Session(engine) as s:
        cutoff = utcnow() - timedelta(seconds=5)
        return len(
            s.scalars(select(WorkerHeartbeat).where(WorkerHeartbeat.last_seen >= cutoff)).all()
        )


def score_once(client, engine, code: bytes, name: str) -> dict:
    sid = upload(client, "digits-demo", name, code)
    deadline = time.monotonic() + 900
    while True:
        with Session(engine) as s:
            sub = s.get(Submission, sid)
            if sub.status in ("scored", "failed", "cancelled"):
                assert sub.status == "scored", (sub.status, sub.failure_message)
                seconds = (sub.finished_at - sub.created_at).total_seconds()
                runs = s.scalars(select(Run.seconds).where(Run.submission_id == sid)).all()
                workers = set(
                    s.scalars(select(WorkChunk.worker).where(WorkChunk.submission_id == sid)).all()
                )
                return {
                    "seconds": seconds,
                    "run_median": statistics.median(r for r in runs if r is not None),
                    "workers": len(workers),
                    "score": sub.score,
                }
        if time.monotonic() > deadline:
            raise RuntimeError(f"submission {sid} not scored in 900 s")
        time.sleep(0.1)


def _measure(args) -> tuple[list[dict], list[dict], float, object]:
    """Prepare with one worker, score ``--repeats`` submissions with one worker, then with
    two: (one-worker results, two-worker results, preparation seconds, competition config)."""
    code = (ROOT / args.method).read_bytes()
    cores = sorted(os.sched_getaffinity(0))[:2]
    tmp = Path(tempfile.mkdtemp(prefix="arena-scale-"))
    broker = clean_redis_url()
    with fresh_postgres_database() as db_url:
        sa_url = db_url.replace("postgresql://", "postgresql+psycopg://")
        config = demo_config()
        config.scoring.n_models = args.n or config.scoring.n_public  # one stage: no private N
        create_competition_in(sa_url, config)
        common = {"ARENA_VAR_DIR": str(tmp / "var"), "DATABASE_URL": db_url, "BROKER_URL": broker}
        if args.store == "file":
            common["ARENA_STORAGE_URL"] = (tmp / "store").as_uri()

        def own_var(name: str) -> dict[str, str]:  # a node's own disk when files go via the store
            return {"ARENA_VAR_DIR": str(tmp / name)} if args.store == "file" else {}

        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
        env |= common | {"ARENA_LOG_FORMAT": "text"}
        engine = create_engine(sa_url)
        workers = [start_worker(env | own_var("worker0"), tmp / "worker0.log", cores[0])]
        try:
            api_env = {**common, "ARENA_START_WORKER": "false", "ARENA_ACCESS_LOG": "false"}
            api_env |= own_var("api")
            with running_platform(api_env, tmp / "serve.log", require_worker=False) as url:
                t0 = time.monotonic()
                comp = wait_for_competition(url, config.slug, timeout=900)
                assert comp["status"] == "open", comp
                prepare_seconds = time.monotonic() - t0
                client = participant(url, "bench")
                one = [score_once(client, engine, code, f"one{i}.py") for i in range(args.repeats)]
                workers.append(
                    start_worker(env | own_var("worker1"), tmp / "worker1.log", cores[1])
                )
                deadline = time.monotonic() + 120
                while live_workers(engine) < 2:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the second worker did not start")
                    time.sleep(0.2)
                two = [score_once(client, engine, code, f"two{i}.py") for i in range(args.repeats)]
        finally:
            stop_workers(*workers)
            engine.dispose()
    return one, two, prepare_seconds, config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--method", default="examples/finetune.py")
    parser.add_argument(
        "--n", type=int, default=None, help="runs per submission (default: the demo's public N, 64)"
    )
    parser.add_argument(
        "--store",
        choices=["shared-dir", "file"],
        default="shared-dir",
        help="how nodes share files",
    )
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("bench/scale.py needs two CPU cores (one per worker)")
    one, two, prepare_seconds, config = _measure(args)
    one_median = statistics.median(r["seconds"] for r in one)
    two_median = statistics.median(r["seconds"] for r in two)
    figures = {
        "bench": "scale",
        "method": args.method,
        "store": args.store,
        "n_models": config.scoring.n_models,
        "runs_per_chunk": config.execution.runs_per_chunk,
        "repeats": args.repeats,
        "preparation_seconds_1_worker": round(prepare_seconds, 2),
        "one_worker_seconds_median": round(one_median, 2),
        "two_workers_seconds_median": round(two_median, 2),
        "ratio_two_vs_one": round(two_median / one_median, 3),
        "target_ratio": 0.55,
        "run_seconds_median": round(statistics.median(r["run_median"] for r in one + two), 3),
        "workers_used_with_two": [r["workers"] for r in two],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
