"""The diagnostic run: a submission run once on public data before its hidden runs, in the same
sandbox and on the same clock, whose full traceback and log are its author's (docs/scoring.md
§8). Runs on hidden data say only their status and time (:mod:`worker.pipeline.published`); this
run is where a participant sees why their code fails.

Its data are synthetic, of the hidden splits' shapes, sizes and classes (drawn from a fixed
seed: nothing of the hidden data, its split or the trained model is in them), and its "original"
model is the organizer's architecture freshly initialised: a kit's development split may differ
from the hidden data's shapes, and the original's weights were trained on the hidden data.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from worker.ml import artefacts
from worker.ml.nets import model_imports
from worker.ml.preparation import init_model
from worker.ml.problem import Problem, Tensors
from worker.pipeline.trials import TrialSetup, run_trial, write_run_data
from worker.sandbox.run_spec import RunResult
from worker.sandbox.runner import Sandbox

SEED = 2023  # fixed: the same synthetic data for every submission of a competition


def synthetic_problem(problem: Problem, seed: int = SEED) -> Problem:
    """Random inputs and labels of the problem's shapes, sizes and classes."""
    gen = torch.Generator().manual_seed(seed)

    def like(t: Tensors) -> Tensors:
        x = torch.randn(t.x.shape, generator=gen).to(t.x.dtype)
        y = torch.randint(0, max(1, problem.n_classes), t.y.shape, generator=gen).to(t.y.dtype)
        return Tensors(x, y)

    return Problem(
        input_shape=problem.input_shape,
        n_classes=problem.n_classes,
        splits=problem.splits,  # never handed to the run
        train=like(problem.train),
        retain=like(problem.retain),
        forget=like(problem.forget),
        val=like(problem.val),
        test=like(problem.test),
    )


def diagnostic_setup(setup: TrialSetup, work_dir: Path) -> TrialSetup:
    """``setup`` on the synthetic data and a fresh model, with full messages."""
    public = synthetic_problem(setup.problem)
    data = work_dir / "diagnostic-data.safetensors"
    write_run_data(public, data)
    weights = work_dir / "diagnostic-original.safetensors"
    with model_imports(setup.runtime.site):  # the organizer's model may import its packages
        artefacts.save_weights(init_model(setup.spec, SEED), weights)
    return replace(setup, problem=public, data_path=data, weights_path=weights, hidden_data=False)


def run_diagnostic(setup: TrialSetup, runner: Sandbox, work_dir: Path, log_path: Path) -> RunResult:
    """The submission once on public data, through the same runner as its hidden runs."""
    public = diagnostic_setup(setup, work_dir)
    outputs = work_dir / "diagnostic-outputs.npz"
    try:
        return run_trial(public, runner, SEED, log_path, outputs)
    finally:
        outputs.unlink(missing_ok=True)
