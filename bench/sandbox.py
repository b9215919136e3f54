"""Platform overhead per run: everything except the participant's `unlearning` call.

Runs the identity submission (which returns at once) through the real runner (sandbox,
hand-over, evaluation) on a tiny competition and reports the median wall time per run; timed in
the same run: the same runner unconfined (no jail: what each run's fresh namespaces, mounts and
filters cost) and, as the baseline, starting a bare Python process that imports torch.
Last line: one JSON object of the figures.

    python bench/sandbox.py [--runs 12]
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
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core.competition_config import CompetitionConfig  # noqa: E402
from worker.ml.preparation import prepare  # noqa: E402
from worker.ml.problem import build_problem  # noqa: E402
from worker.pipeline.trials import make_setup, open_runner, run_trial  # noqa: E402
from worker.sandbox.jail import detect  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


BENCH = {
    "slug": "bench",
    "title": "bench",
    "dataset": {"max_examples": 300},
    "split": {"forget_size": 24},
    "model": {"hidden": [32]},
    "recipe": {"epochs": 5},
    "scoring": {"n_models": 2, "budget_floor_seconds": 5.0, "timing_repeats": 1},
}


def time_runs(
    setup, jail, code: Path, out: Path, runs: int
) -> tuple[float, list[float], list[float]]:
    """(first run, wall time per later run, time on each later run's clock) for ``runs`` + 1
    runs of ``code`` through one runner with ``jail`` (None: unconfined)."""
    per_run, in_run, first = [], [], 0.0
    with open_runner(replace(setup, jail=jail), code) as runner:
        for i in range(runs + 1):
            start = time.perf_counter()
            result = run_trial(setup, runner, i, out / f"log{i}", out / f"out{i}.npz")
            if i:  # the first run also starts the sandbox: reported on its own
                per_run.append(time.perf_counter() - start)
                in_run.append(result.seconds or 0.0)
            else:
                first = time.perf_counter() - start
            assert result.outcome == "finished", result
    return first, per_run, in_run


def python_with_torch_seconds(repeats: int = 5) -> list[float]:
    """The baseline: starting a bare Python that imports torch (a fresh process per run)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", "import torch"], check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=12)
    args = ap.parse_args()
    cfg = CompetitionConfig.model_validate(BENCH)
    threads = min(2, len(os.sched_getaffinity(0)))
    torch.set_num_threads(threads)
    code = ROOT / "examples" / "identity.py"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        prepare(cfg, out / "comp", torch.device("cpu"))
        setup = make_setup(
            cfg, build_problem(cfg), out / "comp", out / "work",
            device=torch.device("cpu"), threads=threads, budget_seconds=5.0, jail=detect(),
        )  # fmt: skip
        first, per_run, in_run = time_runs(setup, setup.jail, code, out, args.runs)
        # the same runner without the jail: what the per-run namespaces, mounts and filters cost
        _, bare_per_run, bare_in_run = time_runs(setup, None, code, out, args.runs)
        base = python_with_torch_seconds()
    overhead = statistics.median(per_run) - statistics.median(in_run)
    bare_overhead = statistics.median(bare_per_run) - statistics.median(bare_in_run)
    figures = {
        "runs": args.runs,
        "first_run_s": round(first, 3),
        "per_run_s_median": round(statistics.median(per_run), 3),
        "in_budget_clock_s_median": round(statistics.median(in_run), 4),
        "overhead_per_run_s_median": round(overhead, 3),
        "baseline_python_import_torch_s_median": round(statistics.median(base), 3),
        "overhead_over_baseline": round(overhead / statistics.median(base), 3),
        "unconfined_overhead_per_run_s_median": round(bare_overhead, 3),
        "isolation_cost_per_run_s": round(overhead - bare_overhead, 3),
    }
    print(
        f"overhead per run {overhead:.3f} s (median); a bare `python -c 'import torch'` takes "
        f"{statistics.median(base):.3f} s"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
