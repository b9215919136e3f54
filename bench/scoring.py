"""Benchmark of the per-example ε: 10,000 forget examples, N = 512, random φ (fixed seed).

Times `official` and `exact` (median of repeats, after a warm-up that compiles the kernels),
and a plain per-example numpy implementation of the official rules on a subset, scaled to the
same number of examples, as the baseline. Last line: one JSON object of the figures.

    python bench/scoring.py [--examples 10000] [--models 512] [--repeats 3] [--baseline-subset 20]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from scoring import per_example_epsilons  # noqa: E402
from scoring.reference import official_epsilon_numpy  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=10_000)
    ap.add_argument("--models", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-subset", type=int, default=20)
    args = ap.parse_args()

    rng = np.random.default_rng(2023)
    shift = rng.normal(0.0, 0.3, size=(args.examples, 1))  # some examples easier to tell apart
    unlearned = rng.normal(0.0, 1.0, size=(args.examples, args.models)) + shift
    retrained = rng.normal(0.0, 1.0, size=(args.examples, args.models))

    per_example_epsilons(unlearned[:2], retrained[:2])  # compile / load the cached kernels
    per_example_epsilons(unlearned[:2], retrained[:2], rules="exact")

    t_official, eps_official = timed(
        lambda: per_example_epsilons(unlearned, retrained), args.repeats
    )
    t_exact, eps_exact = timed(
        lambda: per_example_epsilons(unlearned, retrained, rules="exact"), args.repeats
    )

    k = args.baseline_subset
    start = time.perf_counter()
    baseline = np.array(
        [official_epsilon_numpy(u, r) for u, r in zip(unlearned[:k], retrained[:k], strict=True)]
    )
    t_baseline_per_example = (time.perf_counter() - start) / k
    t_baseline = t_baseline_per_example * args.examples

    figures = {
        "examples": args.examples,
        "models": args.models,
        "cpu_cores": len(os.sched_getaffinity(0)),
        "official_s_median": round(t_official, 3),
        "exact_s_median": round(t_exact, 3),
        "baseline_numpy_s_per_example": round(t_baseline_per_example, 4),
        "baseline_numpy_s_scaled": round(t_baseline, 1),
        "speedup_official_vs_baseline": round(t_baseline / t_official, 1),
        "speedup_exact_vs_baseline": round(t_baseline / t_exact, 1),
        "official_equals_baseline_on_subset": bool(
            np.array_equal(eps_official[:k], baseline, equal_nan=True)
        ),
        "exact_ge_official_minus_1e-5": bool(np.all(eps_exact >= eps_official - 1e-5)),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(
        f"official {t_official:.2f} s, exact {t_exact:.2f} s, plain numpy ≈ {t_baseline:.0f} s (scaled)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
