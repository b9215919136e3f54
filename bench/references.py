"""Reference training: N demo models trained batched (torch.func + vmap) versus one by one,
in one run, for N = 32 and N = 128 (the loop is the baseline). Last line: one JSON object.

    python bench/references.py [--sizes 32,128] [--threads 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from server.competition_config import demo_config  # noqa: E402
from worker.batched_training import train_models_batched  # noqa: E402
from worker.preparation import init_model, spec_for  # noqa: E402
from worker.problem import build_problem  # noqa: E402
from worker.training import evaluate, train_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="32,128")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = demo_config()
    problem = build_problem(cfg)
    spec = spec_for(cfg, problem)
    cpu = torch.device("cpu")
    figures: dict[str, float] = {"threads": torch.get_num_threads()}
    for n in (int(s) for s in args.sizes.split(",")):
        seeds = list(range(1, n + 1))
        start = time.perf_counter()
        loop = [train_model(init_model(spec, s), problem.retain, cfg.recipe, s, cpu) for s in seeds]
        t_loop = time.perf_counter() - start
        start = time.perf_counter()
        batched = train_models_batched(
            [init_model(spec, s) for s in seeds], seeds, problem.retain, cfg.recipe, cpu
        )
        t_batched = time.perf_counter() - start
        acc_loop = sum(evaluate(m, problem, cpu).test_acc for m in loop) / n
        acc_batched = sum(evaluate(m, problem, cpu).test_acc for m in batched) / n
        print(
            f"N = {n}: loop {t_loop:.2f} s ({t_loop / n * 1000:.0f} ms/model), batched {t_batched:.2f} s "
            f"({t_batched / n * 1000:.0f} ms/model), speed-up {t_loop / t_batched:.1f}x; "
            f"mean test accuracy {acc_loop:.4f} vs {acc_batched:.4f}",
            flush=True,
        )
        figures |= {
            f"n{n}_loop_s": round(t_loop, 3),
            f"n{n}_batched_s": round(t_batched, 3),
            f"n{n}_speedup": round(t_loop / t_batched, 2),
            f"n{n}_test_acc_loop": round(acc_loop, 4),
            f"n{n}_test_acc_batched": round(acc_batched, 4),
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
