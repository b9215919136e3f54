"""Competitions: creation, lookup, and what a participant may see of one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.competition_config import CompetitionConfig
from server.environment import environment_packages
from server.errors import ApiError, not_found
from server.models import Competition, CompetitionStatus, Submission, User
from server.schemas import Budget, CompetitionPublic, PreparationProgress, Quota
from server.settings import Settings

ACCEPTED_FILES = [".py", ".ipynb"]


@lru_cache(maxsize=1)
def sandbox_packages() -> dict[str, str]:
    """The packages of the Python environment participant code runs in (the workers' own)."""
    return environment_packages()


def create_competition(session: Session, config: CompetitionConfig) -> Competition:
    if session.scalar(select(Competition.id).where(Competition.slug == config.slug)) is not None:
        raise ApiError(409, f"A competition with slug {config.slug!r} exists already.")
    comp = Competition(
        slug=config.slug,
        title=config.title,
        description=config.description,
        config=config.model_dump(mode="json"),
        status=CompetitionStatus.DRAFT,
    )
    session.add(comp)
    session.commit()
    return comp


def get_competition(session: Session, slug: str) -> Competition:
    comp = session.scalar(select(Competition).where(Competition.slug == slug))
    if comp is None:
        raise not_found(f"Competition {slug!r}")
    return comp


def config_of(comp: Competition) -> CompetitionConfig:
    return CompetitionConfig.model_validate(comp.config)


def day_start(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def submissions_today(session: Session, comp: Competition, user: User) -> int:
    return (
        session.scalar(
            select(func.count(Submission.id)).where(
                Submission.competition_id == comp.id,
                Submission.user_id == user.id,
                Submission.counts_against_quota.is_(True),
                Submission.created_at >= day_start(),
            )
        )
        or 0
    )


def quota(session: Session, comp: Competition, user: User | None) -> Quota:
    limit = config_of(comp).limits.max_daily_submissions
    resets = day_start() + timedelta(days=1)
    if user is None:
        return Quota(max_daily_submissions=limit, resets_at=resets)
    used = submissions_today(session, comp, user)
    return Quota(
        max_daily_submissions=limit,
        used_today=used,
        remaining_today=max(0, limit - used),
        resets_at=resets,
    )


def max_upload_bytes(comp: Competition, settings: Settings) -> int:
    return config_of(comp).limits.max_upload_bytes or settings.max_upload_bytes


def public_view(
    session: Session, comp: Competition, user: User | None, settings: Settings
) -> CompetitionPublic:
    cfg = config_of(comp)
    progress = comp.preparation_progress if comp.status == CompetitionStatus.PREPARING else None
    return CompetitionPublic(
        slug=comp.slug,
        title=comp.title,
        description=comp.description,
        status=comp.status,
        status_message=comp.status_message,
        n_models=cfg.scoring.n_models,
        rules=cfg.scoring.rules,
        over_budget=cfg.scoring.over_budget,
        budget_fraction=cfg.scoring.budget_fraction,
        budget_floor_seconds=cfg.scoring.budget_floor_seconds,
        budgets=[
            Budget(
                hardware_class=b.hardware_class,
                budget_seconds=b.budget_seconds,
                original_seconds=b.original_seconds,
            )
            for b in comp.budgets
        ],
        preparation=PreparationProgress(**progress) if progress else None,
        data={
            "dataset": cfg.dataset.loader,
            "forget_size": cfg.split.forget_size,
            "loader_batch_size": cfg.loader_batch_size,
            "model": cfg.model.model_dump(),
            "note": "The data are hidden; your unlearning() receives retain, forget and validation loaders.",
        },
        limits=quota(session, comp, user),
        max_upload_bytes=max_upload_bytes(comp, settings),
        accepted_files=ACCEPTED_FILES,
        memory_limit_mb=cfg.limits.memory_mb,
        setup_timeout_seconds=cfg.limits.setup_timeout_seconds,
        sandbox_packages=sandbox_packages(),
        created_at=comp.created_at,
        prepared_at=comp.prepared_at,
    )


def list_competitions(session: Session) -> list[Competition]:
    return list(session.scalars(select(Competition).order_by(Competition.created_at)).all())
