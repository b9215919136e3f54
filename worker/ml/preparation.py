"""Competition preparation (once per competition, docs/scoring.md §1 and §6).

Train the original model on all of train and time it warm; train N reference models from
scratch on retain (seeds 1..N); store their outputs; score "retraining itself" and "do nothing"
as the leaderboard's reference rows.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.competition_config import CompetitionConfig
from core.results import ReferenceSummary, SubmissionResult
from core.splits import public_mask
from worker import cpus
from worker.ml import artefacts
from worker.ml.batched import can_batch, train_models_batched
from worker.ml.model_check import check as check_model_report
from worker.ml.nets import ModelBuildError, build_model, model_spec
from worker.ml.problem import Problem, build_problem
from worker.ml.training import ModelOutputs, evaluate, timed_training, train_model
from worker.pipeline.finalize import score_outputs

Progress = Callable[[str, int, int], None]


def spec_for(config: CompetitionConfig, problem: Problem) -> dict[str, Any]:
    return model_spec(config.model, problem.input_shape, problem.n_classes)


def check_model_here(spec: dict[str, Any], runtime_torch: str | None = None) -> None:
    """The organizer's model module checked as at upload (:mod:`worker.ml.model_check`), here
    with the competition's runtime importable: ModelBuildError lists what to fix."""
    if spec.get("name") != "module":
        return
    problems = check_model_report(spec)["problems"]
    if not problems:
        return
    hint = ""
    if runtime_torch is not None:
        hint = (
            f" (the runtime's own torch {runtime_torch} serves the sandbox only: the workers "
            f"train and evaluate the model with the platform's torch {torch.__version__}, so "
            "model.py may import only packages that work with it)"
        )
    raise ModelBuildError(f"model.module {spec['module']}: " + "; ".join(problems) + hint)


def init_model(spec: dict[str, Any], seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(spec)


@dataclass(frozen=True)
class Timing:
    original_seconds: float  # median of the warm timed runs
    budget_seconds: float
    samples: list[float]
    clock: str = "wall"  # "cpu": the process's CPU time on a lease of its threads' CPUs


def budget_from(original_seconds: float, config: CompetitionConfig) -> float:
    s = config.scoring
    return max(s.budget_fraction * original_seconds, s.budget_floor_seconds)


def grace_seconds(budget: float, config: CompetitionConfig) -> float:
    s = config.scoring
    return max(s.grace_fraction * budget, s.grace_min_seconds)


MIN_TIMINGS = 3


def time_original_training(
    config: CompetitionConfig, problem: Problem, device: torch.device, clock: str = "wall"
) -> tuple[nn.Module, Timing]:
    """Train θ_o once to warm up, then ``timing_repeats`` (at least 3) more times; the median is
    T_orig. All of it on a lease of ``torch.get_num_threads()`` CPUs of this host that no
    sandbox shares, every thread pinned to them, timed by ``clock`` as runs are
    (docs/scoring.md §1): "cpu", the CPU time of this process (all its threads); "wall"."""
    spec = spec_for(config, problem)
    samples: list[float] = []
    with cpus.leased(torch.get_num_threads()) as lease, cpus.pinned(lease.cpus):
        model = init_model(spec, config.seed)
        train_model(model, problem.train, config.recipe, config.seed, device)  # warm-up
        for _ in range(max(MIN_TIMINGS, config.scoring.timing_repeats)):
            model = init_model(spec, config.seed)
            cpu_start = time.process_time()
            wall = timed_training(model, problem.train, config.recipe, config.seed, device)
            samples.append(time.process_time() - cpu_start if clock == "cpu" else wall)
    t_orig = statistics.median(samples)
    return model, Timing(t_orig, budget_from(t_orig, config), samples, clock)


def reference_file(out_dir: Path, k: int) -> Path:
    return out_dir / "references" / f"ref-{k:05d}.npz"


def train_references(
    config: CompetitionConfig,
    problem: Problem,
    device: torch.device,
    progress: Progress | None = None,
    out_dir: Path | None = None,
) -> list[ModelOutputs]:
    """Train R_1..R_N (seeds 1..N) on retain. With ``out_dir``, each finished reference is
    saved as it ends and reused on a resumed preparation instead of being retrained."""
    n = config.scoring.n_references
    if out_dir is not None:
        size = config.execution.references_per_chunk
        for a in range(0, n, size):
            train_reference_range(config, problem, device, out_dir, range(a, min(n, a + size)))
            if progress:
                progress("references", min(n, a + size), n)
        return [artefacts.load_outputs(reference_file(out_dir, k)) for k in range(n)]
    spec = spec_for(config, problem)
    outputs = []
    for k in range(n):
        model = train_model(init_model(spec, k + 1), problem.retain, config.recipe, k + 1, device)
        outputs.append(evaluate(model, problem, device))
        if progress:
            progress("references", k + 1, n)
    return outputs


def batchable(config: CompetitionConfig, problem: Problem) -> bool:
    """Whether this competition's references can be trained many at once (no BatchNorm, SGD)."""
    return config.execution.batched_references and can_batch(
        init_model(spec_for(config, problem), 0), config.recipe
    )


def train_reference_range(
    config: CompetitionConfig,
    problem: Problem,
    device: torch.device,
    out_dir: Path,
    indices: range | list[int],
    on_saved: Callable[[int], None] | None = None,
    keep_going: Callable[[], bool] | None = None,
) -> int:
    """Train the references ``indices`` (k → seed k + 1) that are not on disk yet, saving each;
    batched on one device when the architecture allows it, else one by one. Returns how many
    were trained. ``keep_going`` is asked between models (or batches); False stops early."""
    spec = spec_for(config, problem)
    todo = [k for k in indices if not reference_file(out_dir, k).is_file()]
    if not todo:
        return 0
    if len(todo) > 1 and batchable(config, problem):
        groups = [todo]
    else:
        groups = [[k] for k in todo]
    trained = 0
    for group in groups:
        if keep_going is not None and not keep_going():
            break
        seeds = [k + 1 for k in group]
        if len(group) > 1:
            models = train_models_batched(
                [init_model(spec, seed) for seed in seeds],
                seeds,
                problem.retain,
                config.recipe,
                device,
            )
        else:
            models = [
                train_model(
                    init_model(spec, seeds[0]), problem.retain, config.recipe, seeds[0], device
                )
            ]
        for k, model in zip(group, models, strict=True):
            artefacts.save_outputs(evaluate(model, problem, device), reference_file(out_dir, k))
            trained += 1
            if on_saved:
                on_saved(k)
    return trained


def reference_rows(
    config: CompetitionConfig,
    problem: Problem,
    original: ModelOutputs,
    refs: artefacts.OutputsStack,
) -> dict[str, SubmissionResult]:
    """The leaderboard's reference rows: retraining against itself, and the unchanged model."""
    if config.scoring.staged and config.scoring.n_public < len(refs):
        # each board at its own N: the public one against the first n_public references
        def at(n: int) -> dict[str, SubmissionResult]:
            plain = config.scoring.model_copy(update={"n_models": n})
            return reference_rows(
                config.model_copy(update={"scoring": plain}), problem, original, refs.head(n)
            )

        public_rows, private_rows = at(config.scoring.n_public), at(config.scoring.n_references)
        for key, row in private_rows.items():
            if key in public_rows:
                public = public_rows[key]
                row.parts.public = public.parts.public.model_copy(update={"name": public.name})
                row.parts.private.name = row.name  # e.g. "retrain, 32 vs 32"
        return private_rows
    labels = problem.forget.y.numpy()
    public = public_mask(len(labels), config.leaderboard.public_fraction, config.seed)
    n = len(refs)
    rows: dict[str, SubmissionResult] = {}
    half = n // 2
    if half >= 2:
        idx = np.arange(n)
        baseline = score_outputs(
            refs.take(idx[:half]),
            refs.take(idx[half : 2 * half]),
            labels,
            config.scoring,
            public=public,
            original=original,  # RF-JSD of retraining too (docs/metric.md)
        )
        rows["retrain"] = reference_row(baseline, f"retrain, {half} vs {half}")
    same = artefacts.stack_outputs([original] * n)
    rows["original"] = reference_row(
        score_outputs(same, refs, labels, config.scoring, public=public, original=original),
        "original model (do nothing)",
    )
    return rows


_ROW_FIELDS = {
    "score",
    "forgetting_quality",
    "retain_ratio",
    "test_ratio",
    "score_ci",
    "n_models",
    "epsilons",
    "parts",
    "secondary",
}


def reference_row(result: SubmissionResult, name: str) -> SubmissionResult:
    """A reference row: the numbers a board shows of it, and its name."""
    return SubmissionResult.model_validate({**result.model_dump(include=_ROW_FIELDS), "name": name})


FINGERPRINT = "fingerprint.json"
TIMING = "timing.json"


def fingerprint(config: CompetitionConfig, dataset_sha256: str | None) -> str:
    """What the artefacts depend on: a resumed preparation reuses them only if it is unchanged."""
    parts = {
        "seed": config.seed,
        "dataset": config.dataset.model_dump(mode="json"),
        "dataset_sha256": dataset_sha256,
        "split": config.split.model_dump(mode="json"),
        "model": config.model.model_dump(mode="json"),
        "recipe": config.recipe.model_dump(mode="json"),
        "timing_repeats": config.scoring.timing_repeats,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _load_or_train_original(
    config: CompetitionConfig, problem: Problem, out_dir: Path, device: torch.device, clock: str
) -> tuple[ModelOutputs, Timing]:
    timing_file = out_dir / TIMING
    if timing_file.is_file() and (out_dir / artefacts.ORIGINAL_OUTPUTS).is_file():
        timing = Timing(**json.loads(timing_file.read_text()))
        if timing.clock != clock:  # timed on another clock: time again, keep the model
            _, timing = time_original_training(config, problem, device, clock)
            timing_file.write_text(json.dumps(timing.__dict__))
        return artefacts.load_outputs(out_dir / artefacts.ORIGINAL_OUTPUTS), timing
    model, timing = time_original_training(config, problem, device, clock)
    artefacts.save_weights(model, out_dir / artefacts.ORIGINAL)
    original = evaluate(model, problem, device)
    artefacts.save_outputs(original, out_dir / artefacts.ORIGINAL_OUTPUTS)
    timing_file.write_text(json.dumps(timing.__dict__))
    return original, timing


def prepare_original(
    config: CompetitionConfig,
    out_dir: Path,
    device: torch.device,
    progress: Progress | None = None,
    data_file: Path | None = None,
    dataset_sha256: str | None = None,
    runtime_torch: str | None = None,
    clock: str = "wall",
) -> tuple[Problem, ModelOutputs, Timing]:
    """The first step of a preparation: the splits, the model module checked, the original
    model and its timing.

    Resumable: artefacts whose fingerprint (seed, data, split, model, recipe) is unchanged are
    kept; a changed fingerprint wipes them.
    """
    stamp = fingerprint(config, dataset_sha256)
    if (out_dir / FINGERPRINT).is_file() and (out_dir / FINGERPRINT).read_text() != stamp:
        shutil.rmtree(out_dir)  # the data or the recipe changed: nothing can be reused
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / FINGERPRINT).write_text(stamp)
    problem = build_problem(config, data_file)
    check_model_here(spec_for(config, problem), runtime_torch)
    artefacts.save_splits(problem.splits, out_dir / artefacts.SPLITS)
    if progress:
        progress("original", 0, 1)
    original, timing = _load_or_train_original(config, problem, out_dir, device, clock)
    if progress:
        progress("original", 1, 1)
    return problem, original, timing


def finish_references(
    config: CompetitionConfig, problem: Problem, out_dir: Path
) -> tuple[Timing, dict[str, Any]]:
    """The last step: stack the N saved references, and summarize them (reference rows)."""
    n = config.scoring.n_references
    refs = artefacts.stack_outputs(
        [artefacts.load_outputs(reference_file(out_dir, k)) for k in range(n)]
    )
    artefacts.save_outputs(refs, out_dir / artefacts.REFERENCES)
    original = artefacts.load_outputs(out_dir / artefacts.ORIGINAL_OUTPUTS)
    timing = Timing(**json.loads((out_dir / TIMING).read_text()))
    return timing, summarize_references(config, problem, original, refs, timing)


def prepare(
    config: CompetitionConfig,
    out_dir: Path,
    device: torch.device,
    progress: Progress | None = None,
    data_file: Path | None = None,
    dataset_sha256: str | None = None,
    clock: str = "wall",
) -> tuple[Timing, dict[str, Any]]:
    """Run the whole preparation here and write the artefacts to ``out_dir`` (the platform's
    workers run the same steps fanned out: ``worker/jobs/prepare.py``).

    Resumable: the original model and every finished reference are kept on disk, and a
    preparation that is run again with the same fingerprint starts where the last one ended.
    """
    problem, _, _ = prepare_original(
        config, out_dir, device, progress, data_file, dataset_sha256, clock=clock
    )
    train_references(config, problem, device, progress, out_dir=out_dir)
    return finish_references(config, problem, out_dir)


def summarize_references(
    config: CompetitionConfig,
    problem: Problem,
    original: ModelOutputs,
    refs: artefacts.OutputsStack,
    timing: Timing | None = None,
) -> dict[str, Any]:
    """The competition's reference summary (stored JSON): reference rows, original accuracy,
    timing."""
    summary = ReferenceSummary(
        **reference_rows(config, problem, original, refs),
        original_accuracy={
            "retain": original.retain_acc,
            "forget": original.forget_acc,
            "test": original.test_acc,
        },
        timing_samples=timing.samples if timing is not None else None,
    )
    return summary.stored()
