"""Where a competition stands in time: its current phase, whether it takes submissions, and
when a leaderboard's private part may be shown."""

from __future__ import annotations

from datetime import datetime

from core.competition_config import CompetitionConfig, PhaseConfig
from core.errors import Conflict, NotFound
from core.models import Competition, CompetitionStatus
from core.phases import (  # noqa: F401 - all_phases_over: re-exported, its callers import it here
    all_phases_over,
    effective_status,
    now_utc,
)

DEFAULT_BOARD = "main"


def current_phase(cfg: CompetitionConfig, now: datetime | None = None) -> PhaseConfig | None:
    now = now or now_utc()
    for phase in cfg.phases:
        if phase.start <= now and (phase.end is None or now < phase.end):
            return phase
    return None


def next_phase(cfg: CompetitionConfig, now: datetime | None = None) -> PhaseConfig | None:
    now = now or now_utc()
    upcoming = [p for p in cfg.phases if p.start > now]
    return min(upcoming, key=lambda p: p.start) if upcoming else None


def boards(cfg: CompetitionConfig) -> list[str]:
    names: list[str] = []
    for phase in cfg.phases:
        if phase.board not in names:
            names.append(phase.board)
    return names or [DEFAULT_BOARD]


def phases_of_board(cfg: CompetitionConfig, board: str) -> list[str] | None:
    """The phases feeding ``board`` (None: no phases configured, every submission counts)."""
    if not cfg.phases:
        return None
    return [p.name for p in cfg.phases if p.board == board]


def default_board(cfg: CompetitionConfig, now: datetime | None = None) -> str:
    """The board of the current phase, else of the last phase that started, else the first."""
    now = now or now_utc()
    phase = current_phase(cfg, now)
    if phase is None:
        started = [p for p in cfg.phases if p.start <= now]
        phase = started[-1] if started else (cfg.phases[0] if cfg.phases else None)
    return phase.board if phase else DEFAULT_BOARD


def board_is_final(
    comp: Competition, cfg: CompetitionConfig, board: str, now: datetime | None = None
) -> bool:
    """The private part of ``board`` may be published: the competition is closed, or every
    phase feeding the board has ended."""
    if effective_status(comp, cfg, now) == CompetitionStatus.CLOSED:
        return True
    feeding = [p for p in cfg.phases if p.board == board]
    now = now or now_utc()
    return bool(feeding) and all(p.end is not None and p.end <= now for p in feeding)


def require_board(cfg: CompetitionConfig, board: str | None) -> str:
    if board is None:
        return default_board(cfg)
    known = boards(cfg)
    if board not in known:
        raise NotFound(f"No leaderboard {board!r}; this competition has: {', '.join(known)}.")
    return board


def accepting_phase(comp: Competition, cfg: CompetitionConfig) -> PhaseConfig | None:
    """The phase a new submission goes to; a 409 saying why when none takes submissions now."""
    status = effective_status(comp, cfg)
    early = cfg.open_when_ready and status in (
        CompetitionStatus.DRAFT,
        CompetitionStatus.PREPARING,
        CompetitionStatus.READY,
    )
    if status == CompetitionStatus.FAILED:
        raise Conflict(
            f"Competition {comp.slug!r} could not be prepared and takes no submissions now."
        )
    if status == CompetitionStatus.CLOSED:
        raise Conflict(f"Competition {comp.slug!r} is closed; it takes no more submissions.")
    if status != CompetitionStatus.OPEN and not early:
        raise Conflict(
            f"Competition {comp.slug!r} is not open yet (status: {status}); submissions open when "
            "the organizers publish it.",
        )
    if not cfg.phases:
        return None
    phase = current_phase(cfg)
    if phase is None:
        upcoming = next_phase(cfg)
        when = (
            f"the next phase, {upcoming.name!r}, starts at {upcoming.start.isoformat()}"
            if upcoming
            else "no phase is left"
        )
        raise Conflict(f"No phase of {comp.slug!r} is open now: {when}.")
    return phase
