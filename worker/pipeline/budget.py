"""Per-hardware-class budgets: measured once per class and stored (docs/scoring.md §1)."""

from __future__ import annotations

import torch
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.competition_config import CompetitionConfig
from core.db import session_scope
from core.models import CompetitionBudget
from worker.ml.preparation import time_original_training
from worker.ml.problem import Problem


def store_budget(
    competition_id: int, hardware_class: str, original_seconds: float, budget_seconds: float
) -> None:
    try:
        with session_scope() as s:
            row = s.scalar(
                select(CompetitionBudget).where(
                    CompetitionBudget.competition_id == competition_id,
                    CompetitionBudget.hardware_class == hardware_class,
                )
            )
            if row is None:
                s.add(
                    CompetitionBudget(
                        competition_id=competition_id,
                        hardware_class=hardware_class,
                        original_seconds=original_seconds,
                        budget_seconds=budget_seconds,
                    )
                )
            else:
                row.original_seconds, row.budget_seconds = original_seconds, budget_seconds
    except IntegrityError:  # another worker of the same class stored it first: keep theirs
        pass


def ensure_budget(
    competition_id: int,
    config: CompetitionConfig,
    hardware_class: str,
    problem: Problem,
    device: torch.device,
) -> float:
    """The budget on this hardware class, timing the original training here if it is new."""
    with session_scope() as s:
        budget = s.scalar(
            select(CompetitionBudget.budget_seconds).where(
                CompetitionBudget.competition_id == competition_id,
                CompetitionBudget.hardware_class == hardware_class,
            )
        )
    if budget is not None:
        return float(budget)
    _, timing = time_original_training(config, problem, device)
    store_budget(competition_id, hardware_class, timing.original_seconds, timing.budget_seconds)
    with session_scope() as s:  # another chunk's worker may have stored its timing first
        stored = s.scalar(
            select(CompetitionBudget.budget_seconds).where(
                CompetitionBudget.competition_id == competition_id,
                CompetitionBudget.hardware_class == hardware_class,
            )
        )
    return float(stored) if stored is not None else timing.budget_seconds
