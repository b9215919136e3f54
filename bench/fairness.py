"""Is the verdict the host's or the code's? The demo's fine-tune (examples/finetune.py) run through
the real sandbox on an idle host and beside busy co-tenants (processes burning CPU on every core,
as a second worker or a reference training would), on both clocks, in one run.

For each (clock, host) it reports the runs' charged times, their wall times and the verdicts;
the baseline is the 2023 rule (the wall clock) on the same host in the same run. Budgets are the
demo's: 10% of the original training's time on each clock (median of 3), floored at 3 s.
Last line: one JSON object of the figures.

    python bench/fairness.py [--runs 5] [--cotenants 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core.competition_config import demo_config  # noqa: E402
from worker import hardware  # noqa: E402
from worker.ml import artefacts  # noqa: E402
from worker.ml.preparation import time_original_training  # noqa: E402
from worker.ml.problem import build_problem  # noqa: E402
from worker.pipeline.trials import make_setup, open_runner, run_trial, verdict  # noqa: E402
from worker.sandbox.jail import detect  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def cotenants(count: int):
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _runs(setup, code: Path, work: Path, runs: int) -> list[dict]:
    out = []
    with open_runner(setup, code) as runner:
        for i in range(runs):
            r = run_trial(setup, runner, 100 + i, work / f"{i}.log", work / f"{i}.npz")
            failed = verdict(r, i, runs, setup)
            out.append(
                {
                    "outcome": r.outcome,
                    "passed": failed is None,
                    "charged_s": r.seconds,
                    "wall_s": r.reading.wall if r.reading else None,
                    "cpu_s": r.reading.cpu if r.reading else None,
                }
            )
    return out


def _summary(rows: list[dict]) -> dict:
    charged = [r["charged_s"] for r in rows if r["charged_s"] is not None]
    wall = [r["wall_s"] for r in rows if r["wall_s"] is not None]
    return {
        "passed": sum(r["passed"] for r in rows),
        "runs": len(rows),
        "outcomes": sorted({r["outcome"] for r in rows}),
        "median_charged_s": round(statistics.median(charged), 3) if charged else None,
        "median_wall_s": round(statistics.median(wall), 3) if wall else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cotenants", type=int, default=2)
    args = ap.parse_args()
    cfg, device = demo_config(), torch.device("cpu")
    threads = hardware.cpu_threads(0)
    torch.set_num_threads(threads)
    problem = build_problem(cfg)
    jail = detect()
    code = ROOT / "examples" / "finetune.py"
    figures: dict = {"threads": threads, "cotenants": args.cotenants}
    with tempfile.TemporaryDirectory() as tmp:
        comp = Path(tmp)
        budgets = {}
        for clock in ("wall", "cpu"):
            model, timing = time_original_training(cfg, problem, device, clock)
            budgets[clock] = timing.budget_seconds
            figures[f"original_{clock}_s"] = round(timing.original_seconds, 3)
        artefacts.save_weights(model, comp / artefacts.ORIGINAL)
        figures["budget_s"] = {k: round(v, 3) for k, v in budgets.items()}
        for clock in ("wall", "cpu"):
            for host in ("idle", "busy"):
                work = comp / f"{clock}-{host}"
                setup = make_setup(
                    cfg, problem, comp, work, device=device, threads=threads,
                    budget_seconds=budgets[clock], clock=clock, jail=jail,
                )  # fmt: skip
                if host == "busy":
                    with cotenants(args.cotenants):
                        rows = _runs(setup, code, work, args.runs)
                else:
                    rows = _runs(setup, code, work, args.runs)
                figures[f"{clock}_{host}"] = _summary(rows)
                print(f"{clock} clock, {host} host:", json.dumps(figures[f"{clock}_{host}"]))
    for clock in ("wall", "cpu"):
        idle, busy = figures[f"{clock}_idle"], figures[f"{clock}_busy"]
        if idle["median_charged_s"] and busy["median_charged_s"]:
            figures[f"{clock}_busy_over_idle"] = round(
                busy["median_charged_s"] / idle["median_charged_s"], 3
            )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
