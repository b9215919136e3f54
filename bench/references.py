"""Reference training: N demo models trained batched versus one by one, in one run, for
N = 32 and N = 128 (the loop is the baseline). Times are medians of --repeats. Batched is what preparation uses for the demo's
MLP (stacked weights, worker/ml/stacked_mlp.py); the generic torch.func + vmap path, which other
architectures take, is timed beside it. Last line: one JSON object.

    python bench/references.py [--sizes 32,128] [--threads 0] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core.competition_config import demo_config  # noqa: E402
from worker.ml.batched import train_models_batched  # noqa: E402
from worker.ml.preparation import init_model, spec_for  # noqa: E402
from worker.ml.problem import Problem, build_problem  # noqa: E402
from worker.ml.training import evaluate, train_model  # noqa: E402


def mean_test_acc(models: list[torch.nn.Module], problem: Problem) -> float:
    return sum(evaluate(m, problem, torch.device("cpu")).test_acc for m in models) / len(models)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="32,128")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    ap.add_argument("--repeats", type=int, default=3, help="timings per method (medians reported)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = demo_config()
    problem = build_problem(cfg)
    spec = spec_for(cfg, problem)
    cpu = torch.device("cpu")
    figures: dict[str, float] = {"threads": torch.get_num_threads(), "repeats": args.repeats}
    for n in (int(s) for s in args.sizes.split(",")):
        seeds = list(range(1, n + 1))

        def train(kind: str, seeds: list[int] = seeds) -> list[torch.nn.Module]:
            if kind == "loop":
                return [
                    train_model(init_model(spec, s), problem.retain, cfg.recipe, s, cpu)
                    for s in seeds
                ]
            return train_models_batched(
                [init_model(spec, s) for s in seeds], seeds, problem.retain, cfg.recipe, cpu, kind
            )

        samples: dict[str, list[float]] = {"loop": [], "stacked": [], "vmap": []}
        accuracy: dict[str, float] = {}
        for _ in range(args.repeats):  # interleaved, so a slow spell of the machine hits all three
            for kind in samples:
                start = time.perf_counter()
                models = train(kind)
                samples[kind].append(time.perf_counter() - start)
                accuracy[kind] = mean_test_acc(models, problem)
        timed = {kind: statistics.median(values) for kind, values in samples.items()}
        t_loop = timed["loop"]
        t_batched = timed["stacked"]
        print(
            f"N = {n}: loop {t_loop:.2f} s ({t_loop / n * 1000:.0f} ms/model), batched {t_batched:.2f} s "
            f"({t_batched / n * 1000:.1f} ms/model), speed-up {t_loop / t_batched:.1f}x "
            f"(vmap path {timed['vmap']:.2f} s, {t_loop / timed['vmap']:.1f}x); mean test accuracy "
            f"loop {accuracy['loop']:.4f}, batched {accuracy['stacked']:.4f}, vmap {accuracy['vmap']:.4f}",
            flush=True,
        )
        figures |= {
            f"n{n}_loop_s": round(t_loop, 3),
            f"n{n}_batched_s": round(t_batched, 3),
            f"n{n}_speedup": round(t_loop / t_batched, 2),
            f"n{n}_vmap_s": round(timed["vmap"], 3),
            f"n{n}_vmap_speedup": round(t_loop / timed["vmap"], 2),
            f"n{n}_test_acc_loop": round(accuracy["loop"], 4),
            f"n{n}_test_acc_batched": round(accuracy["stacked"], 4),
            f"n{n}_test_acc_vmap": round(accuracy["vmap"], 4),
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
