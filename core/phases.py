"""Whether a competition is over: its stored status, or the end of its last phase (shared by the
server, which answers with it, and the worker, whose validity report depends on it)."""

from __future__ import annotations

from datetime import UTC, datetime

from core.competition_config import CompetitionConfig
from core.models import Competition, CompetitionStatus


def now_utc() -> datetime:
    return datetime.now(UTC)


def all_phases_over(cfg: CompetitionConfig, now: datetime | None = None) -> bool:
    now = now or now_utc()
    return bool(cfg.phases) and all(p.end is not None and p.end <= now for p in cfg.phases)


def last_phase_end(cfg: CompetitionConfig) -> datetime | None:
    """When the last phase ends (None: no phases, or one is open-ended)."""
    ends = [p.end for p in cfg.phases]
    return max(e for e in ends if e is not None) if ends and None not in ends else None


def effective_status(comp: Competition, cfg: CompetitionConfig, now: datetime | None = None) -> str:
    """The stored status, except that an open competition whose last phase ended is closed."""
    if comp.status == CompetitionStatus.OPEN and all_phases_over(cfg, now):
        return CompetitionStatus.CLOSED
    return comp.status
