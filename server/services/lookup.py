"""Finding a competition and reading its config (shared by the other services)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.competition_config import CompetitionConfig
from core.errors import not_found
from core.models import Competition


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
