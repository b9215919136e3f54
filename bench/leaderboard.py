"""Leaderboard page time with thousands of entrants.

Seeds a competition with E entrants, each with one scored submission carrying a realistic
result (per-example ε for F forget examples), then times building page 1 of the public board
(50 rows, ties for the shown rows) through the same service the API and the pages use; the
baseline, timed in the same run, is the same board with ties computed for every entrant (what
a board without pagination of the tie bootstraps costs). Last line: one JSON object.

    python bench/leaderboard.py [--entrants 2000] [--forget 100] [--repeats 5]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["ARENA_VAR_DIR"] = tempfile.mkdtemp(prefix="arena-bench-lb-")
os.environ["ARENA_LEADERBOARD_CACHE_SECONDS"] = "0"  # time the build itself
for name in ("DATABASE_URL", "ARENA_DATABASE_URL"):
    os.environ.pop(name, None)

import numpy as np  # noqa: E402

from core.competition_config import CompetitionConfig  # noqa: E402
from core.db import session_scope  # noqa: E402
from core.migrate import upgrade_database  # noqa: E402
from core.models import Submission, User  # noqa: E402
from core.settings import get_settings  # noqa: E402
from server.leaderboard.board import build_leaderboard  # noqa: E402
from server.services.competitions import create_competition  # noqa: E402


def seed(entrants: int, forget: int) -> str:
    settings = get_settings()
    settings.ensure_dirs()
    upgrade_database(settings.sqlalchemy_url)
    cfg = CompetitionConfig.model_validate(
        {
            "slug": "bench-lb",
            "title": "bench",
            "split": {"forget_size": forget},
            "open_when_ready": True,
        }
    )
    rng = np.random.default_rng(0)
    with session_scope() as s:
        comp = create_competition(s, cfg)
        users = [User(username=f"u{i:05d}", password_hash="x") for i in range(entrants)]
        s.add_all(users)
        s.flush()
        for u in users:
            eps = rng.exponential(2.0, forget).round(6).tolist()
            score = float(rng.uniform(0, 0.2))
            s.add(
                Submission(
                    competition_id=comp.id,
                    user_id=u.id,
                    filename="m.py",
                    kind="py",
                    sha256="0" * 64,
                    size_bytes=1,
                    status="scored",
                    n_models=32,
                    score=score,
                    score_ci_low=score - 0.01,
                    score_ci_high=score + 0.01,
                    retain_ratio=1.0,
                    test_ratio=1.0,
                    scoring_version=1,
                    forgetting_quality=score,
                    result={"epsilons": eps, "secondary": {"mia": 0.5, "avg_gap": 0.1}},
                )
            )
    return "bench-lb"


def timed(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entrants", type=int, default=2000)
    ap.add_argument("--forget", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    slug = seed(args.entrants, args.forget)
    from server.services.lookup import get_competition

    def page(per_page: int):
        with session_scope() as s:
            board = build_leaderboard(s, get_competition(s, slug), per_page=per_page)
            assert board.total_rows == args.entrants
            return board

    page(50)  # warm up (numba, caches)
    first = timed(lambda: page(50), args.repeats)
    every = timed(lambda: page(args.entrants), max(1, args.repeats // 2))
    print(
        f"page of 50 of {args.entrants} entrants: {first * 1000:.0f} ms; ties for all: {every * 1000:.0f} ms"
    )
    print(
        json.dumps(
            {
                "entrants": args.entrants,
                "forget_examples": args.forget,
                "page_median_s": round(first, 4),
                "baseline_all_ties_median_s": round(every, 4),
                "ratio_page_vs_baseline": round(first / every, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
