"""Submission limits per entrant (a participant, or their team): per UTC day and in total,
per phase where the phase sets its own. Checked under a row lock so that concurrent uploads
cannot overshoot (200 concurrent uploads against a limit of 5 accept exactly 5)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from core.competition_config import CompetitionConfig, PhaseConfig
from core.db import lock_for_write
from core.errors import RateLimited
from core.models import Competition, Submission, Team, User
from server.schemas import Quota
from server.services import compute
from server.services.lookup import config_of, day_start
from server.services.phases import current_phase
from server.services.teams import Entrant, counts, entrant_of


def limits_for(cfg: CompetitionConfig, phase: PhaseConfig | None) -> tuple[int, int | None]:
    daily = cfg.limits.max_daily_submissions
    total = cfg.limits.max_total_submissions
    if phase is not None:
        daily = phase.max_daily_submissions or daily
        total = phase.max_total_submissions or total
    return daily, total


def _used(
    session: Session, comp: Competition, entrant: Entrant, phase: PhaseConfig | None
) -> tuple[int, int]:
    condition = entrant.submissions()
    if phase is not None:
        condition = and_(condition, Submission.phase == phase.name)
    return counts(session, comp, condition)


def quota(session: Session, comp: Competition, user: User | None) -> Quota:
    cfg = config_of(comp)
    phase = current_phase(cfg)
    daily, total = limits_for(cfg, phase)
    resets = day_start() + timedelta(days=1)
    base = Quota(
        max_daily_submissions=daily,
        max_total_submissions=total,
        max_final_submissions=cfg.limits.max_final_submissions,
        max_device_hours_per_day=cfg.limits.max_device_hours_per_day,
        phase=phase.name if phase else None,
        resets_at=resets,
    )
    if user is None:
        return base
    entrant = entrant_of(session, comp, user)
    today, used_total = _used(session, comp, entrant, phase)
    remaining = max(0, daily - today)
    if total is not None:
        remaining = min(remaining, max(0, total - used_total))
    update: dict = {
        "entrant": entrant.name,
        "used_today": today,
        "used_total": used_total,
        "remaining_today": remaining,
        "remaining_total": None if total is None else max(0, total - used_total),
    }
    limit = compute.quota_seconds(cfg)
    if limit is not None:
        charged, reserve = compute.usage_today(session, comp, cfg, entrant)
        update |= {
            "device_seconds_today": round(charged, 3),
            "device_seconds_remaining_today": round(max(0.0, limit - charged), 3),
            "submission_reserve_seconds": round(reserve, 3),
        }
        if charged + reserve > limit:
            update["remaining_today"] = 0
    return base.model_copy(update=update)


def claim_slot(
    session: Session, comp: Competition, user: User, phase: PhaseConfig | None
) -> Entrant:
    """Lock the entrant (its row; on SQLite the database's write lock, taken before the first
    read) and check the limits; 429 with when to retry if they are used."""
    lock_for_write(session)
    entrant = entrant_of(session, comp, user)
    if entrant.team is not None:
        session.scalar(select(Team).where(Team.id == entrant.team.id).with_for_update())
    else:
        session.scalar(select(User).where(User.id == user.id).with_for_update())
    cfg = config_of(comp)
    daily, total = limits_for(cfg, phase)
    today, used_total = _used(session, comp, entrant, phase)
    who = f"team {entrant.name!r}" if entrant.team is not None else "You"
    if total is not None and used_total >= total:
        where = f"phase {phase.name!r}" if phase is not None else repr(comp.slug)
        raise RateLimited(
            f"{who} used all {total} submissions allowed in {where}; no more can be made."
        )
    if today >= daily:
        raise RateLimited(
            f"{who} used the {daily} submissions allowed today in {comp.slug!r}; the quota "
            "resets at 00:00 UTC.",
        )
    limit = compute.quota_seconds(cfg)
    if limit is not None:
        charged, reserve = compute.usage_today(session, comp, cfg, entrant)
        if charged + reserve > limit:
            raise RateLimited(
                f"{who} would go over the compute quota of {limit / 3600:g} device-hours a day in "
                f"{comp.slug!r}: {charged / 3600:.3f} h are charged today (queued and running "
                f"submissions at their most, {reserve / 3600:.3f} h each, until they finish) and "
                f"one more submission may cost {reserve / 3600:.3f} h. Wait for your running "
                "submissions to finish, or until 00:00 UTC.",
            )
    return entrant
