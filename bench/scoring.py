"""Benchmark of the per-example ε: 10,000 forget examples, N = 512, random φ (fixed seed).

Times, for both rule families (`official`, `exact`):
- warm: the median of repeats in this process, after a call that loads the kernels;
- first call, cached: a fresh process's first call, kernels already compiled in numba's cache
  (what a worker or a participant's second session pays), next to that process's import time;
- first call, compiling: a fresh process whose numba cache is empty (a fresh clone's first call);
- the baseline: plain per-example implementations (`scoring.reference`) timed in the same run on
  a subset and scaled to all examples.
It also checks the kernels against those references on the golden vectors of the published
metric (`tests/data/official_eps_public.npz`). Last line: one JSON object of the figures.

    python bench/scoring.py [--examples 10000] [--models 512] [--repeats 3] [--baseline-subset 20]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOLDEN = ROOT / "tests" / "data" / "official_eps_public.npz"
RULES = ("official", "exact")


def signals(examples: int, models: int) -> tuple[np.ndarray, np.ndarray]:
    """The benchmark's φ: some examples easier to tell apart than others."""
    rng = np.random.default_rng(2023)
    shift = rng.normal(0.0, 0.3, size=(examples, 1))
    unlearned = rng.normal(0.0, 1.0, size=(examples, models)) + shift
    retrained = rng.normal(0.0, 1.0, size=(examples, models))
    return unlearned, retrained


def first_call(rules: str, examples: int, models: int) -> None:
    """In this (fresh) process: import time and the first call's time, as one JSON line."""
    start = time.perf_counter()
    import scoring

    imported = time.perf_counter() - start
    u, r = signals(examples, models)
    start = time.perf_counter()
    scoring.per_example_epsilons(u, r, rules=rules)  # type: ignore[arg-type]
    print(json.dumps({"import_s": imported, "first_s": time.perf_counter() - start}))


def fresh_process(rules: str, examples: int, models: int, cache_dir: str | None) -> dict:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir  # an empty cache: every kernel compiles
    argv = [sys.executable, __file__, "--first-call", rules]
    argv += ["--examples", str(examples), "--models", str(models)]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def warm_median(fn, repeats: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def baseline_seconds(u: np.ndarray, r: np.ndarray, rules: str, k: int) -> tuple[float, np.ndarray]:
    """Per-example reference on the first k examples: seconds per example and the values."""
    from scoring.reference import exact_epsilon_quadratic, official_epsilon_numpy

    one = official_epsilon_numpy if rules == "official" else exact_epsilon_quadratic
    start = time.perf_counter()
    values = np.array([one(a, b) for a, b in zip(u[:k], r[:k], strict=True)])
    return (time.perf_counter() - start) / k, values


def golden_check() -> dict:
    """Kernels against the plain references on the published metric's golden vectors."""
    import scoring
    from scoring.reference import exact_epsilon_quadratic, official_epsilon_numpy

    identical, exact_gap, golden_gap = True, 0.0, 0.0
    with np.load(GOLDEN) as data:
        for i in range(int(data["n_cases"])):
            u, r = data[f"case_{i:03d}_unlearned"], data[f"case_{i:03d}_retrained"]
            official = scoring.per_example_epsilons(u, r)
            plain = np.array([official_epsilon_numpy(a, b) for a, b in zip(u, r, strict=True)])
            identical &= bool(np.array_equal(official, plain, equal_nan=True))
            if str(data[f"case_{i:03d}_status"]) == "ok":
                golden = data[f"case_{i:03d}_eps"]
                golden_gap = max(golden_gap, float(np.nanmax(np.abs(official - golden))))
            exact = scoring.per_example_epsilons(u, r, rules="exact")
            quad = np.array([exact_epsilon_quadratic(a, b) for a, b in zip(u, r, strict=True)])
            gap = np.abs(exact - quad)
            exact_gap = max(exact_gap, float(np.nanmax(gap)) if np.isfinite(gap).any() else 0.0)
    return {
        "golden_official_bit_identical_to_plain_numpy": identical,
        "golden_official_max_abs_diff_vs_published": golden_gap,
        "golden_exact_max_abs_diff_vs_quadratic_reference": exact_gap,
    }


def measure(rules: str, u: np.ndarray, r: np.ndarray, args: argparse.Namespace) -> dict:
    import scoring

    scoring.per_example_epsilons(u[:2], r[:2], rules=rules)  # type: ignore[arg-type]
    warm, values = warm_median(
        lambda: scoring.per_example_epsilons(u, r, rules=rules),  # type: ignore[arg-type]
        args.repeats,
    )
    k = args.baseline_subset if rules == "official" else max(1, args.baseline_subset // 10)
    per_example, plain = baseline_seconds(u, r, rules, k)
    cached = fresh_process(rules, args.examples, args.models, None)
    with tempfile.TemporaryDirectory() as empty:
        compiling = fresh_process(rules, args.examples, args.models, empty)
    return {
        f"{rules}_warm_s_median": round(warm, 3),
        f"{rules}_first_call_cached_s": round(cached["first_s"], 3),
        f"{rules}_first_over_warm": round(cached["first_s"] / warm, 2),
        f"{rules}_import_s": round(cached["import_s"], 3),
        f"{rules}_first_call_compiling_s": round(compiling["first_s"], 2),
        f"{rules}_baseline_s_per_example": round(per_example, 4),
        f"{rules}_baseline_s_scaled": round(per_example * args.examples, 1),
        f"{rules}_speedup_vs_baseline": round(per_example * args.examples / warm, 1),
        f"{rules}_equals_baseline_on_subset": bool(
            np.allclose(values[:k], plain, rtol=0, atol=0 if rules == "official" else 1e-12)
        ),
    }, values


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=10_000)
    ap.add_argument("--models", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-subset", type=int, default=20)
    ap.add_argument("--first-call", choices=RULES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.first_call:
        first_call(args.first_call, args.examples, args.models)
        return

    u, r = signals(args.examples, args.models)
    figures: dict = {"examples": args.examples, "models": args.models}
    figures["cpu_cores"] = len(os.sched_getaffinity(0))
    values = {}
    for rules in RULES:
        found, values[rules] = measure(rules, u, r, args)
        figures.update(found)
        print(
            f"{rules}: warm {found[f'{rules}_warm_s_median']:.2f} s, fresh process's first call "
            f"{found[f'{rules}_first_call_cached_s']:.2f} s (cached kernels), "
            f"{found[f'{rules}_first_call_compiling_s']:.1f} s (compiling), per-example "
            f"reference ≈ {found[f'{rules}_baseline_s_scaled']:.0f} s (scaled)"
        )
    figures["exact_ge_official_minus_1e-5"] = bool(
        np.all(values["exact"] >= values["official"] - 1e-5)
    )
    figures.update(golden_check())
    figures["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
