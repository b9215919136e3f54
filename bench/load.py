"""Load on the API with 10,000 submissions in PostgreSQL (locust, against 127.0.0.1 only).

Seeds a fresh PostgreSQL database with a competition of 2,000 participants and 10,000 scored
submissions, starts `arena serve` on it (API only: uploads queue, nothing is scored), then
drives it with locust: leaderboard reads at 200 requests/s (targets: p99 ≤ 50 ms), then
uploads at 20/s from 20 accounts (target: no errors). The baseline, timed in the same run, is
building the same board without the cache. Bounded in time; prints one JSON object last.

    python bench/load.py [--seconds 20] [--submissions 10000]

Needs PostgreSQL at ARENA_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
and Redis at ARENA_TEST_REDIS_URL (default redis://127.0.0.1:6379, database 12 is flushed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import gevent
import httpx
import numpy as np
import psycopg
import redis
from locust import HttpUser, constant_throughput, task
from locust.env import Environment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN = os.environ.get("ARENA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("ARENA_TEST_REDIS_URL", "redis://127.0.0.1:6379") + "/12"
GOOD = b"def unlearning(net, retain_loader, forget_loader, val_loader):\n    return net\n"
SLUG = "load"


def seed(url: str, submissions: int, participants: int) -> None:
    from sqlalchemy import create_engine, insert
    from sqlalchemy.orm import Session

    from core.competition_config import CompetitionConfig
    from core.migrate import upgrade_database
    from core.models import Competition, Submission, User

    sa_url = url.replace("postgresql://", "postgresql+psycopg://")
    upgrade_database(sa_url)
    cfg = CompetitionConfig.model_validate(
        {"slug": SLUG, "title": "Load", "limits": {"max_daily_submissions": 10_000}}
    )
    engine = create_engine(sa_url)
    rng = np.random.default_rng(0)
    with Session(engine) as s:
        comp = Competition(
            slug=SLUG,
            title="Load",
            description="",
            config=cfg.model_dump(mode="json"),
            status="open",
            scoring_version=1,
        )
        s.add(comp)
        s.flush()
        users = (
            s.execute(
                insert(User).returning(User.id),
                [
                    {"username": f"p{i:05d}", "password_hash": "x", "role": "participant"}
                    for i in range(participants)
                ],
            )
            .scalars()
            .all()
        )
        rows = [
            _submission_row(comp.id, users[k % participants], float(rng.uniform(0, 0.2)), rng)
            for k in range(submissions)
        ]
        s.execute(insert(Submission), rows)
        s.commit()
    engine.dispose()


def _submission_row(competition_id: int, user_id: int, score: float, rng) -> dict:
    """A scored submission as the leaderboard reads it (100 forget examples)."""
    return {
        "competition_id": competition_id,
        "user_id": user_id,
        "filename": "m.py",
        "kind": "py",
        "sha256": "0" * 64,
        "size_bytes": 70,
        "status": "scored",
        "n_models": 32,
        "score": score,
        "score_ci_low": score - 0.01,
        "score_ci_high": score + 0.01,
        "private_score": score,
        "retain_ratio": 1.0,
        "test_ratio": 1.0,
        "forgetting_quality": score,
        "scoring_version": 1,
        "is_final": False,
        "counts_against_quota": True,
        "runs_done": 32,
        "attempts": 0,
        "result": {
            "epsilons": rng.exponential(2.0, 100).round(4).tolist(),
            "boards": {"public": {"forgetting_quality": score}},
            "secondary": {"mia": 0.5, "avg_gap": 0.1, "rf_jsd_x1e4": 10.0},
        },
    }


def uncached_board_seconds(url: str, repeats: int = 3) -> float:
    os.environ["DATABASE_URL"] = url
    os.environ["ARENA_LEADERBOARD_CACHE_SECONDS"] = "0"
    from core.db import session_scope
    from server.leaderboard.board import build_leaderboard
    from server.services.lookup import get_competition

    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        with session_scope() as s:
            build_leaderboard(s, get_competition(s, SLUG))
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run_locust(user_class, users: int, seconds: float, name: str) -> dict:
    env = Environment(user_classes=[user_class])
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(seconds)
    runner.quit()
    stats = env.stats.get(name, "GET" if name == "leaderboard" else "POST")
    return {
        "requests": stats.num_requests,
        "failures": stats.num_failures,
        "rps": round(stats.num_requests / seconds, 1),
        "p50_ms": stats.get_response_time_percentile(0.5),
        "p99_ms": stats.get_response_time_percentile(0.99),
        "max_ms": round(stats.max_response_time, 1),
    }


def _start_api(url: str, var: Path, port: int) -> tuple[subprocess.Popen, str]:
    """`arena serve` on PostgreSQL and Redis, no worker; returns it once it answers."""
    env = {k: v for k, v in os.environ.items() if k not in ("ARENA_LEADERBOARD_CACHE_SECONDS",)}
    env.update(
        {
            "DATABASE_URL": url,
            "BROKER_URL": REDIS,
            "ARENA_VAR_DIR": str(var),
            "PORT": str(port),
            "ARENA_START_WORKER": "false",
            "ARENA_SEED_DEMO": "false",
            "ARENA_ACCESS_LOG": "false",
        }
    )
    log = open(var / "serve.log", "wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "arena"), "serve"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).json().get("database") == "ok":
                break
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    return proc, base


def _uploader_tokens(base: str) -> list[str]:
    """Twenty accounts that accepted the rules, by token."""
    tokens = []
    for i in range(20):
        creds = {"username": f"uploader{i:02d}", "password": "load-test-password"}
        httpx.post(f"{base}/api/v1/users", json=creds, timeout=30)
        token = httpx.post(f"{base}/api/v1/tokens", json=creds, timeout=30).json()["token"]
        httpx.post(
            f"{base}/api/v1/competitions/{SLUG}/rules/accept",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        tokens.append(token)
    return tokens


def _users(base: str, tokens: list[str]):
    """Locust's readers (200 board reads a second in all) and uploaders (20 a second)."""

    class Reader(HttpUser):
        host = base
        wait_time = constant_throughput(4)  # 50 users x 4/s = 200 requests/s

        @task
        def board(self) -> None:
            self.client.get(f"/api/v1/competitions/{SLUG}/leaderboard", name="leaderboard")

    class Uploader(HttpUser):
        host = base
        wait_time = constant_throughput(1)  # 20 users x 1/s = 20 uploads/s

        def on_start(self) -> None:
            self.client.headers["Authorization"] = f"Bearer {tokens.pop()}"

        @task
        def upload(self) -> None:
            self.client.post(
                f"/api/v1/competitions/{SLUG}/submissions",
                files={"file": ("m.py", GOOD)},
                name="upload",
            )

    return Reader, Uploader


def _figures(args, reads: dict, uploads: dict, baseline: float) -> dict:
    return {
        "submissions": args.submissions,
        "participants": args.participants,
        "leaderboard_target_rps": 200,
        "leaderboard_rps": reads["rps"],
        "leaderboard_p50_ms": reads["p50_ms"],
        "leaderboard_p99_ms": reads["p99_ms"],
        "leaderboard_failures": reads["failures"],
        "baseline_uncached_board_median_ms": round(baseline * 1000, 1),
        "ratio_p99_vs_uncached": round(reads["p99_ms"] / (baseline * 1000), 3),
        "upload_target_rps": 20,
        "upload_rps": uploads["rps"],
        "upload_p99_ms": uploads["p99_ms"],
        "upload_failures": uploads["failures"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--submissions", type=int, default=10_000)
    ap.add_argument("--participants", type=int, default=2_000)
    args = ap.parse_args()

    name = f"arena_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    redis.Redis.from_url(REDIS).flushdb()
    var = Path(tempfile.mkdtemp(prefix="arena-load-"))
    port = 18000 + os.getpid() % 1000
    proc = None
    try:
        t0 = time.perf_counter()
        seed(url, args.submissions, args.participants)
        print(
            f"seeded {args.submissions} submissions in {time.perf_counter() - t0:.1f} s", flush=True
        )
        baseline = uncached_board_seconds(url)
        proc, base = _start_api(url, var, port)
        Reader, Uploader = _users(base, _uploader_tokens(base))
        # steady state: one read fills the board cache first (the very first build is the
        # baseline below, timed separately)
        httpx.get(f"{base}/api/v1/competitions/{SLUG}/leaderboard", timeout=60)
        reads = run_locust(Reader, 50, args.seconds, "leaderboard")
        uploads = run_locust(Uploader, 20, args.seconds, "upload")
        print(f"leaderboard: {reads}\nuploads: {uploads}", flush=True)
        print(json.dumps(_figures(args, reads, uploads, baseline)))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
