"""Competitions: creation, lookup, and what a participant may see of one."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import state
from core.competition_config import CompetitionConfig
from core.config_file import public_settings
from core.datasets import builtin_summary
from core.environment import environment_packages
from core.errors import Conflict, DomainError, NotFound
from core.models import (
    Competition,
    CompetitionStatus,
    Dataset,
    RulesAcceptance,
    Submission,
    User,
    WorkerHeartbeat,
)
from core.settings import Settings
from server.schemas import Budget, CompetitionPublic, PhasePublic, PreparationProgress
from server.services.access import manages
from server.services.lookup import config_of, day_start, get_competition
from server.services.phases import boards, current_phase, effective_status
from server.services.quota import quota
from server.services.validity import report_visible

__all__ = ["config_of", "create_competition", "day_start", "get_competition", "public_view"]


@lru_cache(maxsize=1)
def _own_packages() -> dict[str, str]:
    return environment_packages()


def sandbox_packages(session: Session, hardware_class: str | None) -> tuple[dict[str, str], str]:
    """The packages participant code can import, and where the list comes from: as the workers
    report them (the most recently seen worker of the competition's hardware class, else of
    any class), or this server's own environment while no worker has reported."""
    rows = session.execute(
        select(WorkerHeartbeat.hardware_class, WorkerHeartbeat.packages)
        .where(WorkerHeartbeat.packages.is_not(None))
        .order_by(WorkerHeartbeat.last_seen.desc())
        .limit(50)
    ).all()
    wanted = _class_slug(hardware_class) if hardware_class else None
    for hw, packages in rows:
        if wanted is None or _class_slug(hw) == wanted:
            return dict(packages), f"reported by a worker of class {hw}"
    if rows and wanted is None:
        hw, packages = rows[0]
        return dict(packages), f"reported by a worker of class {hw}"
    return _own_packages(), "this server's environment (no worker has reported yet)"


def _class_slug(text: str) -> str:  # as worker.hardware.slug: queue-safe lower case
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


def create_competition(
    session: Session,
    config: CompetitionConfig,
    owner: User | None = None,
    bundle: dict[str, Any] | None = None,
) -> Competition:
    if session.scalar(select(Competition.id).where(Competition.slug == config.slug)) is not None:
        raise Conflict(f"A competition with slug {config.slug!r} exists already.")
    comp = Competition(
        slug=config.slug,
        title=config.title,
        description=config.description,
        config=config.model_dump(mode="json"),
        status=state.initial(Competition),
        owner_id=owner.id if owner is not None else None,
        scoring_version=1,
        bundle=bundle,
    )
    session.add(comp)
    session.commit()
    return comp


def max_upload_bytes(comp: Competition, settings: Settings) -> int:
    return config_of(comp).limits.max_upload_bytes or settings.max_upload_bytes


@lru_cache(maxsize=32)
def _builtin_summary(config_json: str) -> dict[str, Any]:
    return builtin_summary(CompetitionConfig.model_validate_json(config_json))


def data_summary(session: Session, comp: Competition) -> dict[str, Any] | None:
    """Shapes, classes and split sizes (never the data), or None before an upload."""
    cfg = config_of(comp)
    if cfg.dataset.source == "builtin":
        try:
            working = comp.working_config.model_dump(mode="json")  # the hidden split's sizes
            return _builtin_summary(json.dumps(working, sort_keys=True))
        except (DomainError, ValueError):
            return None
    row = session.scalar(select(Dataset).where(Dataset.competition_id == comp.id))
    return dict(row.summary) if row is not None else None


def has_accepted_rules(session: Session, comp: Competition, user: User) -> bool:
    return (
        session.scalar(
            select(RulesAcceptance.user_id).where(
                RulesAcceptance.competition_id == comp.id, RulesAcceptance.user_id == user.id
            )
        )
        is not None
    )


def participants(session: Session, comp: Competition) -> int:
    return int(
        session.scalar(
            select(func.count(func.distinct(Submission.user_id))).where(
                Submission.competition_id == comp.id
            )
        )
        or 0
    )


def public_view(
    session: Session, comp: Competition, user: User | None, settings: Settings
) -> CompetitionPublic:
    cfg = config_of(comp)
    status = effective_status(comp, cfg)
    progress = comp.preparation_progress if status == CompetitionStatus.PREPARING else None
    phase = current_phase(cfg)
    packages, packages_from = sandbox_packages(session, cfg.execution.hardware_class)
    return CompetitionPublic(
        slug=comp.slug,
        title=comp.title,
        description=comp.description,
        status=status,
        status_message=comp.status_message,
        n_models=cfg.scoring.n_public,
        n_models_private=cfg.scoring.n_references,
        rules=cfg.scoring.rules,
        clock=cfg.scoring.clock,
        over_budget=cfg.scoring.over_budget,
        budget_fraction=cfg.scoring.budget_fraction,
        budget_floor_seconds=cfg.scoring.budget_floor_seconds,
        budgets=[
            Budget(
                hardware_class=b.hardware_class,
                budget_seconds=b.budget_seconds,
                original_seconds=b.original_seconds,
                clock=b.clock,
            )
            for b in comp.budgets
        ],
        preparation=PreparationProgress(**progress) if progress else None,
        data=_data_view(cfg, data_summary(session, comp) or {}),
        limits=quota(session, comp, user),
        max_upload_bytes=max_upload_bytes(comp, settings),
        accepted_files=[f".{k}" for k in cfg.allowed_uploads],
        memory_limit_mb=cfg.limits.memory_mb,
        setup_timeout_seconds=cfg.limits.setup_timeout_seconds,
        sandbox_packages=packages,
        sandbox_packages_from=packages_from,
        pages=list((comp.bundle or {}).get("pages") or {}),
        runtime=list(cfg.runtime.packages),
        runtime_packages=dict(comp.runtime_lock or {}),
        starter_kit=bool((comp.bundle or {}).get("kit") or (comp.bundle or {}).get("dev")),
        validity_report=bool(comp.validity) and report_visible(session, user, comp),
        participation_rules=cfg.rules,
        rules_accepted=has_accepted_rules(session, comp, user) if user is not None else None,
        you_organize=manages(session, user, comp) if user is not None else None,
        phases=[_phase_view(p) for p in cfg.phases],
        current_phase=phase.name if phase else None,
        leaderboards=boards(cfg),
        public_fraction=cfg.leaderboard.public_fraction,
        scoring_version=comp.scoring_version,
        participants=participants(session, comp),
        created_at=comp.created_at,
        prepared_at=comp.prepared_at,
        opened_at=comp.opened_at,
        closed_at=comp.closed_at,
    )


def _data_view(cfg, summary: dict[str, Any]) -> dict[str, Any]:
    """What participants may know of the hidden data: shapes and sizes, never examples."""
    return {
        "dataset": cfg.dataset.loader if cfg.dataset.source == "builtin" else "uploaded",
        "n_examples": summary.get("n_examples"),
        "input_shape": summary.get("input_shape"),
        "n_classes": summary.get("n_classes"),
        "split_sizes": summary.get("split_sizes"),
        "forget": (
            f"all train examples of {cfg.split.forget_groups} groups"
            if cfg.split.forget_groups
            else f"a random sample of {cfg.split.forget_size} train examples"
        ),
        "forget_size": (summary.get("split_sizes") or {}).get("forget", cfg.split.forget_size),
        "loader_batch_size": cfg.loader_batch_size,
        "model": public_settings(cfg)["model"],
        "note": "The data are hidden; your unlearning() receives retain, forget and validation loaders.",
    }


def _phase_view(p) -> PhasePublic:
    return PhasePublic(
        name=p.name,
        start=p.start,
        end=p.end,
        leaderboard=p.board,
        max_daily_submissions=p.max_daily_submissions,
        max_total_submissions=p.max_total_submissions,
    )


def is_published(comp: Competition) -> bool:
    """Visible to everyone: open or closed, or a demo that opens by itself when ready."""
    return comp.status in (CompetitionStatus.OPEN, CompetitionStatus.CLOSED) or bool(
        (comp.config or {}).get("open_when_ready")
    )


def visible_to(session: Session, comp: Competition, user: User | None) -> bool:
    return is_published(comp) or manages(session, user, comp)


def get_visible(session: Session, slug: str, user: User | None) -> Competition:
    """The competition, unless it is an unpublished draft of someone else's (404 then)."""
    comp = get_competition(session, slug)
    if not visible_to(session, comp, user):
        raise NotFound(f"Competition {slug!r} not found")
    return comp


def list_competitions(session: Session, user: User | None = None) -> list[Competition]:
    """Published competitions, and the ones ``user`` organizes."""
    rows = session.scalars(select(Competition).order_by(Competition.created_at)).all()
    return [c for c in rows if visible_to(session, c, user)]
