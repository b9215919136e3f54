"""Is the cheap board trustworthy? The baseline methods (examples/) on the demo, each run
``--n-max`` times (default 512) in the platform's sandbox, then scored at N = 16, 32, 64, 128
(runs 0..N-1 against references 0..N-1: subsets of the same runs) and at the full N. Prints,
per N: Kendall τ of the methods' ranking with the full-N ranking, the mean 95 % bootstrap
interval width of the score, and the device-seconds the runs and references cost.

    python bench/staged.py [--n-max 512] [--sizes 16,32,64,128] [--methods all] [--procs 2]

Runs go to ``--procs`` processes (one CPU thread each, one sandboxed runner each). The
references are trained batched. Artefacts are kept in ``--cache`` (default var/bench-staged)
so that a second run only rescores. Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402

from core.competition_config import CompetitionConfig, demo_config  # noqa: E402
from worker.jobs.score import run_seed  # noqa: E402
from worker.ml import artefacts  # noqa: E402
from worker.ml.preparation import (  # noqa: E402
    finish_references,
    prepare_original,
    train_references,
)
from worker.ml.problem import build_problem  # noqa: E402
from worker.pipeline.finalize import score_outputs  # noqa: E402
from worker.pipeline.trials import jail_for, make_setup, open_runner, run_trial  # noqa: E402

METHODS = (
    "identity",
    "finetune",
    "retrain",
    "random_labels",
    "neggrad_plus",
    "scrub",
    "ssd",
    "lotus",
)


def config(n_max: int) -> CompetitionConfig:
    cfg = demo_config()
    cfg.scoring.n_models = n_max
    cfg.execution.references_per_chunk = 64
    return cfg


def run_share(args: tuple) -> list[dict]:
    """One process: a sandboxed runner for ``method``, runs ``indices``, one thread."""
    method, indices, n_max, comp_dir, budget = args
    torch.set_num_threads(1)
    cfg = config(n_max)
    problem = build_problem(cfg)
    run_dir = Path(comp_dir) / "runs" / method
    work = run_dir / f"work-{indices[0]}"
    setup = make_setup(
        cfg,
        problem,
        Path(comp_dir),
        work,
        device=torch.device("cpu"),
        threads=1,
        budget_seconds=budget,
        jail=jail_for("arena-sandbox", allow_unconfined=True),
    )
    out = []
    code = ROOT / "examples" / f"{method}.py"
    with open_runner(setup, code) as runner:
        for i in indices:
            path = run_dir / f"{i:05d}.npz"
            started = time.perf_counter()
            result = run_trial(setup, runner, run_seed(0, i), work / f"{i}.log", path)
            out.append(
                {
                    "index": i,
                    "outcome": result.outcome,
                    "seconds": result.seconds,
                    "device_seconds": time.perf_counter() - started,
                }
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-max", type=int, default=512)
    ap.add_argument("--sizes", default="16,32,64,128")
    ap.add_argument("--methods", default="all")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--cache", default=str(ROOT / "var" / "bench-staged"))
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args()
    methods = METHODS if args.methods == "all" else tuple(args.methods.split(","))
    sizes = [int(s) for s in args.sizes.split(",") if int(s) < args.n_max] + [args.n_max]
    cfg = config(args.n_max)
    cfg.scoring.bootstrap_resamples = args.resamples
    comp_dir = Path(args.cache) / f"digits-demo-n{args.n_max}"
    torch.set_num_threads(args.procs)
    problem, timing, prep_seconds, per_ref = _prepare(cfg, comp_dir, args.n_max)
    runs = {m: _runs_of(m, args, comp_dir, timing.budget_seconds) for m in methods}
    scores, widths = _scores(cfg, problem, comp_dir, runs, sizes, args.n_max)
    kept = list(scores[args.n_max])
    table = {n: _row_at(n, scores, widths, runs, kept, per_ref, args.n_max) for n in sizes}
    for m in kept:
        print(f"  {m:14s} " + " ".join(f"N={n}: {scores[n][m]:.4f}" for n in sizes), flush=True)
    run_medians = {
        m: round(statistics.median(r["device_seconds"] for r in runs[m]), 3) for m in kept
    }
    print(
        json.dumps(
            {
                "bench": "staged",
                "n_max": args.n_max,
                "methods": kept,
                "preparation_seconds": round(prep_seconds, 1),
                "reference_seconds_per_model": round(per_ref, 4),
                "budget_seconds": round(timing.budget_seconds, 3),
                "run_device_seconds_median": run_medians,
                "by_n": {str(n): table[n] for n in sizes},
                "scores": {str(n): {m: round(v, 4) for m, v in scores[n].items()} for n in sizes},
            }
        )
    )


def _prepare(cfg, comp_dir: Path, n_max: int):
    """The original and n_max references (cached in comp_dir): (problem, timing, preparation
    seconds, seconds per reference; 0 when the cache was warm: run with a fresh --cache)."""
    started = time.perf_counter()
    problem, _, timing = prepare_original(cfg, comp_dir, torch.device("cpu"))
    original_seconds = time.perf_counter() - started
    started = time.perf_counter()
    train_references(cfg, problem, torch.device("cpu"), out_dir=comp_dir)
    ref_seconds = time.perf_counter() - started
    finish_references(cfg, problem, comp_dir)
    print(
        f"prepared: original {original_seconds:.1f} s, {n_max} references (batched) "
        f"{ref_seconds:.1f} s",
        flush=True,
    )
    return problem, timing, original_seconds + ref_seconds, ref_seconds / n_max


def _runs_of(method: str, args, comp_dir: Path, budget: float) -> list[dict]:
    """A method's n_max runs, in --procs processes (cached in the run folder)."""
    log = comp_dir / "runs" / method / "runs.json"
    if log.is_file():
        return json.loads(log.read_text())
    t0 = time.perf_counter()
    shares = [list(range(args.n_max))[p :: args.procs] for p in range(args.procs)]
    with ProcessPoolExecutor(args.procs) as pool:
        parts = pool.map(
            run_share, [(method, s, args.n_max, str(comp_dir), budget) for s in shares]
        )
        runs = sorted((r for part in parts for r in part), key=lambda r: r["index"])
    log.write_text(json.dumps(runs))
    ok = sum(r["outcome"] in ("finished", "over_budget") for r in runs)
    print(f"{method}: {ok}/{args.n_max} runs in {time.perf_counter() - t0:.0f} s", flush=True)
    return runs


def _scores(cfg, problem, comp_dir: Path, runs: dict, sizes: list[int], n_max: int):
    """Each method's score and interval width at each N (its first N runs against the first
    N references); methods with a failed run are left out."""
    refs = artefacts.load_stack(comp_dir / artefacts.REFERENCES)
    original = artefacts.load_outputs(comp_dir / artefacts.ORIGINAL_OUTPUTS)
    labels = problem.forget.y.numpy()
    scores: dict[int, dict[str, float]] = {n: {} for n in sizes}
    widths: dict[int, list[float]] = {n: [] for n in sizes}
    for method, method_runs in runs.items():
        good = [r for r in method_runs if r["outcome"] in ("finished", "over_budget")]
        if len(good) < n_max:
            print(f"{method}: {n_max - len(good)} runs failed; left out", flush=True)
            continue
        for n in sizes:
            unlearned = artefacts.stack_outputs(
                [
                    artefacts.load_outputs(comp_dir / "runs" / method / f"{i:05d}.npz")
                    for i in range(n)
                ]
            )
            res = score_outputs(unlearned, refs.head(n), labels, cfg.scoring, original=original)
            scores[n][method] = res.score
            lo, hi = res.score_ci
            widths[n].append(hi - lo)
    return scores, widths


def _row_at(n: int, scores, widths, runs, kept: list[str], per_ref: float, n_max: int) -> dict:
    """Agreement with the ranking at n_max, interval width and cost at N = n."""
    full = [scores[n_max][m] for m in kept]
    tau = kendalltau([scores[n][m] for m in kept], full).statistic if len(kept) > 1 else None
    run_cost = sum(r["device_seconds"] for m in kept for r in runs[m] if r["index"] < n)
    row = {
        "kendall_tau": None if tau is None else round(float(tau), 3),
        "ci_width_mean": round(float(np.mean(widths[n])), 4),
        "run_device_seconds_per_submission": round(run_cost / len(kept), 1),
        "reference_device_seconds": round(per_ref * n, 1),
    }
    print(
        f"N = {n:4d}: tau {row['kendall_tau']}, mean CI width {row['ci_width_mean']}, "
        f"{row['run_device_seconds_per_submission']} device-s per submission",
        flush=True,
    )
    return row


if __name__ == "__main__":
    main()
