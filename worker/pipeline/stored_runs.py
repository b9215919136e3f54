"""A submission's result from its stored run outputs: which runs count, then the pure finalize
step (:mod:`worker.pipeline.finalize`) against the first N references (scoring and rescoring).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.competition_config import CompetitionConfig
from core.environment import environment_summary
from core.models import FailureReason, RunStatus
from core.results import PartSummary, ScoringVersions, SubmissionResult
from core.splits import public_mask
from core.storage import Storage
from core.version import code_version
from worker.ml import artefacts
from worker.ml.problem import build_problem
from worker.pipeline.finalize import score_outputs
from worker.pipeline.stage import SubmissionFailed

RunRow = tuple[int, str, float | None]  # (index, status, seconds)


def data_file_for(config: CompetitionConfig, slug: str, storage: Storage) -> Path | None:
    return storage.pull(storage.dataset_file(slug)) if config.dataset.source == "upload" else None


def load_forget_labels(config: CompetitionConfig, slug: str, storage: Storage) -> np.ndarray:
    return build_problem(config, data_file_for(config, slug, storage)).forget.y.numpy()


@dataclass(frozen=True)
class StoredRuns:
    """A submission's stored runs and what they are scored against."""

    config: CompetitionConfig
    submission_id: int
    slug: str
    storage: Storage
    refs: artefacts.OutputsStack
    forget_labels: np.ndarray
    runs: list[RunRow]  # every recorded run
    budget: float
    clock: str | None = None  # what the run times and the budget are


def staged_result(stored: StoredRuns, *, with_private: bool) -> SubmissionResult:
    """A submission's result. Plain N: both parts from its N runs. Staged N: the public part
    from runs 0..public-1 against the first ``public`` references; the private part pending,
    or (``with_private``: the private stage has run) from all ``private`` runs against all
    references, its whole-forget-set numbers kept under ``private_stage``."""
    cfg = stored.config.scoring
    result = score_stored_runs(stored, n=cfg.n_public)
    if not cfg.staged:
        return result
    if not with_private:
        result.parts.private = PartSummary(
            n_models=cfg.n_references,
            pending="computed at the close for the final picks (staged N)",
        )
        return result
    full = score_stored_runs(stored, n=cfg.n_references)
    parts = result.parts.model_copy(update={"private": full.parts.private})
    return result.model_copy(update={"parts": parts, "private_stage": full.stage_part()})


def score_stored_runs(stored: StoredRuns, n: int | None = None) -> SubmissionResult:
    """The result of runs 0..n-1 (default: the public N) of a submission from their stored
    outputs, against the first n references."""
    config, storage = stored.config, stored.storage
    cfg = config.scoring
    n = n or cfg.n_public
    runs = [r for r in stored.runs if r[0] < n]  # a stage never looks at the runs of a later one
    unlearned = used_outputs(stored, n)
    original = artefacts.load_outputs(
        storage.pull(storage.competition_dir(stored.slug) / artefacts.ORIGINAL_OUTPUTS)
    )
    labels = stored.forget_labels
    public = public_mask(len(labels), config.leaderboard.public_fraction, config.seed)
    result = score_outputs(
        unlearned, stored.refs.head(len(unlearned)), labels, cfg, original=original, public=public
    )
    if not result.score_is_finite:
        raise SubmissionFailed(
            FailureReason.INVALID_OUTPUT,
            "No forget example could be scored: every decision rule was degenerate for every example.",
        )
    seconds = [t for _, _, t in runs if t is not None]
    result.budget_seconds, result.clock = stored.budget, stored.clock
    result.runs_dropped = len(dropped_runs(config, [(i, s) for i, s, _ in runs], stored.budget, n))
    lock = storage.pull(storage.competition_dir(stored.slug) / artefacts.RUNTIME_LOCK)
    runtime = json.loads(lock.read_text()) if lock.is_file() else {}
    result.environment = {**environment_summary(), "runtime": runtime}
    result.run_seconds_median = float(np.median(seconds)) if seconds else None
    result.elapsed_seconds = float(np.sum(seconds)) if seconds else None
    result.scoring = ScoringVersions(
        settings=cfg.model_dump(mode="json"),
        public_fraction=config.leaderboard.public_fraction,
        code_version=code_version(),
    )
    return result


def used_outputs(stored: StoredRuns, n: int) -> artefacts.OutputsStack:
    """The outputs runs 0..n-1 count with: their own, or the original model's for a run dropped
    for its budget (SubmissionFailed when too few finished within the budget)."""
    runs = [r for r in stored.runs if r[0] < n]
    dropped = set(dropped_runs(stored.config, [(i, s) for i, s, _ in runs], stored.budget, n))
    storage = stored.storage
    original = None
    if dropped:
        comp_dir = storage.competition_dir(stored.slug)
        original = artefacts.load_outputs(storage.pull(comp_dir / artefacts.ORIGINAL_OUTPUTS))
    return artefacts.stack_outputs(
        [
            original
            if i in dropped
            else artefacts.load_outputs(storage.pull(storage.run_outputs(stored.submission_id, i)))
            for i in range(n)
        ]
    )


def dropped_runs(
    config: CompetitionConfig, runs: list[tuple[int, str]], budget: float, n: int
) -> list[int]:
    """Which of runs 0..n-1 count as the original model: under ``over_budget: drop`` those over
    budget (so every entry is scored at the board's N, and no run gains by overrunning: the
    original model has forgotten nothing), under ``fail`` none. SubmissionFailed when fewer
    runs than needed finished within the budget, or a run is missing."""
    cfg = config.scoring
    status = dict(runs)
    missing = [i for i in range(n) if i not in status]
    if missing:
        raise SubmissionFailed(
            FailureReason.INFRASTRUCTURE, f"Runs {missing[:5]} of {n} have no record.", counts=False
        )
    if cfg.over_budget != "drop":
        return []
    in_budget = [i for i in range(n) if status[i] == RunStatus.FINISHED]
    needed = cfg.min_runs_for(n)
    if len(in_budget) < needed:
        raise SubmissionFailed(
            FailureReason.OVER_BUDGET,
            f"Only {len(in_budget)} of {n} runs finished within the budget of {budget:.2f} s; "
            f"at least {needed} are needed.",
        )
    return [i for i in range(n) if status[i] != RunStatus.FINISHED]
