"""Competition preparation (once per competition, SCORING.md §1 and §6).

Train the original model on all of train and time it warm; train N reference models from
scratch on retain (seeds 1..N); store their outputs; score "retraining itself" and "do nothing"
as the leaderboard's reference rows.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from server.competition_config import CompetitionConfig
from worker import artefacts
from worker.nets import build_model, model_spec
from worker.problem import Problem, build_problem
from worker.results import score_outputs
from worker.training import ModelOutputs, evaluate, timed_training, train_model

Progress = Callable[[str, int, int], None]


def spec_for(config: CompetitionConfig, problem: Problem) -> dict[str, Any]:
    return model_spec(config.model, problem.n_features, problem.n_classes)


def init_model(spec: dict[str, Any], seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(spec)


@dataclass(frozen=True)
class Timing:
    original_seconds: float  # median of the warm timed runs
    budget_seconds: float
    samples: list[float]


def budget_from(original_seconds: float, config: CompetitionConfig) -> float:
    s = config.scoring
    return max(s.budget_fraction * original_seconds, s.budget_floor_seconds)


def grace_seconds(budget: float, config: CompetitionConfig) -> float:
    s = config.scoring
    return max(s.grace_fraction * budget, s.grace_min_seconds)


def time_original_training(
    config: CompetitionConfig, problem: Problem, device: torch.device
) -> tuple[nn.Module, Timing]:
    """Train θ_o once to warm up, then ``timing_repeats`` more times; the median is T_orig."""
    spec = spec_for(config, problem)
    samples: list[float] = []
    model = init_model(spec, config.seed)
    train_model(model, problem.train, config.recipe, config.seed, device)  # warm-up, not counted
    for _ in range(config.scoring.timing_repeats):
        model = init_model(spec, config.seed)
        samples.append(timed_training(model, problem.train, config.recipe, config.seed, device))
    t_orig = statistics.median(samples)
    return model, Timing(t_orig, budget_from(t_orig, config), samples)


def train_references(
    config: CompetitionConfig,
    problem: Problem,
    device: torch.device,
    progress: Progress | None = None,
) -> list[ModelOutputs]:
    spec = spec_for(config, problem)
    n = config.scoring.n_models
    outputs = []
    for k in range(n):
        seed = k + 1
        model = train_model(init_model(spec, seed), problem.retain, config.recipe, seed, device)
        outputs.append(evaluate(model, problem, device))
        if progress:
            progress("references", k + 1, n)
    return outputs


def reference_rows(
    config: CompetitionConfig,
    problem: Problem,
    original: ModelOutputs,
    refs: artefacts.OutputsStack,
) -> dict[str, Any]:
    """The leaderboard's reference rows: retraining against itself, and the unchanged model."""
    labels = problem.forget.y.numpy()
    n = len(refs)
    rows: dict[str, Any] = {}
    half = n // 2
    if half >= 2:
        idx = np.arange(n)
        baseline = score_outputs(
            refs.take(idx[:half]), refs.take(idx[half : 2 * half]), labels, config.scoring
        )
        rows["retrain"] = {"name": f"retrain, {half} vs {half}", **_summary(baseline)}
    same = artefacts.stack_outputs([original] * n)
    rows["original"] = {
        "name": "original model (do nothing)",
        **_summary(score_outputs(same, refs, labels, config.scoring)),
    }
    return rows


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "score",
        "forgetting_quality",
        "retain_ratio",
        "test_ratio",
        "score_ci",
        "n_models",
        "epsilons",
    )
    return {k: result[k] for k in keys}


def prepare(
    config: CompetitionConfig, out_dir: Path, device: torch.device, progress: Progress | None = None
) -> tuple[Timing, dict[str, Any]]:
    """Run the whole preparation and write the artefacts to ``out_dir``."""
    problem = build_problem(config)
    artefacts.save_splits(problem.splits, out_dir / artefacts.SPLITS)
    if progress:
        progress("original", 0, 1)
    model, timing = time_original_training(config, problem, device)
    artefacts.save_weights(model, out_dir / artefacts.ORIGINAL)
    original = evaluate(model, problem, device)
    artefacts.save_outputs(original, out_dir / artefacts.ORIGINAL_OUTPUTS)
    if progress:
        progress("original", 1, 1)
    refs = artefacts.stack_outputs(train_references(config, problem, device, progress))
    artefacts.save_outputs(refs, out_dir / artefacts.REFERENCES)
    summary = reference_rows(config, problem, original, refs)
    summary["original_accuracy"] = {
        "retain": original.retain_acc,
        "forget": original.forget_acc,
        "test": original.test_acc,
    }
    summary["timing_samples"] = timing.samples
    return timing, summary
