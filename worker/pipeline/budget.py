"""Per-hardware-class budgets: measured once per class and clock, and stored (docs/scoring.md §1).

A class's budget is timed on the clock its runs are charged by (:func:`worker.pipeline.trials.
run_clock`); a stored budget of another clock (the competition's ``scoring.clock`` changed, or
budgets from before the CPU clock) is timed again, never compared across clocks.
"""

from __future__ import annotations

import torch
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.competition_config import CompetitionConfig
from core.db import session_scope
from core.models import CompetitionBudget
from worker.ml.preparation import Timing, time_original_training
from worker.ml.problem import Problem


def store_budget(competition_id: int, hardware_class: str, timing: Timing) -> None:
    try:
        with session_scope() as s:
            row = s.scalar(
                select(CompetitionBudget).where(
                    CompetitionBudget.competition_id == competition_id,
                    CompetitionBudget.hardware_class == hardware_class,
                )
            )
            if row is None:
                row = CompetitionBudget(
                    competition_id=competition_id, hardware_class=hardware_class
                )
                s.add(row)
            row.original_seconds, row.budget_seconds = (
                timing.original_seconds,
                timing.budget_seconds,
            )
            row.clock, row.samples = timing.clock, list(timing.samples)
    except IntegrityError:  # another worker of the same class stored it first: keep theirs
        pass


def _stored(competition_id: int, hardware_class: str, clock: str) -> float | None:
    with session_scope() as s:
        budget = s.scalar(
            select(CompetitionBudget.budget_seconds).where(
                CompetitionBudget.competition_id == competition_id,
                CompetitionBudget.hardware_class == hardware_class,
                CompetitionBudget.clock == clock,
            )
        )
    return float(budget) if budget is not None else None


def ensure_budget(
    competition_id: int,
    config: CompetitionConfig,
    hardware_class: str,
    problem: Problem,
    device: torch.device,
    clock: str,
) -> float:
    """The budget on this hardware class and clock, timing the original training here if it
    is new."""
    budget = _stored(competition_id, hardware_class, clock)
    if budget is not None:
        return budget
    _, timing = time_original_training(config, problem, device, clock)
    store_budget(competition_id, hardware_class, timing)
    stored = _stored(competition_id, hardware_class, clock)  # another worker's may be first
    return stored if stored is not None else timing.budget_seconds
