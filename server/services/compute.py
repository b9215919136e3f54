"""Compute accounting: device-seconds per run, submission, entrant and competition, and the
optional per-entrant compute quota (``limits.max_device_hours_per_day``).

A **device-second** is one second of one worker's device held by the platform's work: a GPU, or
the cores of a CPU worker (its hardware class says which). A run's device time is measured
around the whole run (sandbox start, the participant's function, evaluation), so it is a bit
more than the timed ``seconds`` the budget applies to. Work that failed as the platform's fault
(``counts_against_quota`` false) is reported but never charged.

The quota is enforced at upload, under the same row lock as the submission limits, so that
concurrent uploads cannot overshoot it: a submission still queued or running is charged its
most expensive case (N runs × (budget + grace)) until its real cost is known.
"""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.competition_config import CompetitionConfig
from core.models import Competition, CompetitionBudget, Submission, SubmissionStatus, Team, User
from server.schemas import CompetitionCompute, EntrantCompute
from server.services.lookup import day_start
from server.services.teams import Entrant

ACTIVE = (SubmissionStatus.QUEUED, SubmissionStatus.RUNNING)


def reservation_seconds(session: Session, comp: Competition, cfg: CompetitionConfig) -> float:
    """What a submission may cost at most: N runs of (budget + grace) on its slowest class
    (the public N of a staged competition: the private stage is the organizers' spend)."""
    budget = session.scalar(
        select(func.max(CompetitionBudget.budget_seconds)).where(
            CompetitionBudget.competition_id == comp.id
        )
    )
    if budget is None:
        budget = cfg.scoring.budget_floor_seconds or 60.0
    grace = max(cfg.scoring.grace_fraction * budget, cfg.scoring.grace_min_seconds)
    return float(cfg.scoring.n_public * (budget + grace))


def usage_today(
    session: Session, comp: Competition, cfg: CompetitionConfig, entrant: Entrant
) -> tuple[float, float]:
    """(device-seconds charged to the entrant today (UTC), the charge of one more submission):
    finished work at its real cost, queued and running work at its reservation."""
    reserve = reservation_seconds(session, comp, cfg)
    charge = case(
        (Submission.status.in_(ACTIVE), reserve),
        else_=func.coalesce(Submission.device_seconds, 0.0),
    )
    total = session.scalar(
        select(func.sum(charge)).where(
            Submission.competition_id == comp.id,
            Submission.counts_against_quota.is_(True),
            Submission.created_at >= day_start(),
            entrant.submissions(),
        )
    )
    return float(total or 0.0), reserve


def quota_seconds(cfg: CompetitionConfig) -> float | None:
    hours = cfg.limits.max_device_hours_per_day
    return None if hours is None else hours * 3600.0


def competition_compute(
    session: Session, comp: Competition, only: Entrant | None = None
) -> CompetitionCompute:
    """Totals for the competition (organizers), or for one entrant (``only``)."""
    base = [Submission.competition_id == comp.id]
    if only is not None:
        base.append(only.submissions())
    rows = session.execute(
        select(
            Submission.team_id,
            Submission.user_id,
            func.count(Submission.id),
            func.coalesce(func.sum(Submission.device_seconds), 0.0),
            func.coalesce(
                func.sum(
                    case(
                        (Submission.counts_against_quota.is_(False), Submission.device_seconds),
                        else_=0.0,
                    )
                ),
                0.0,
            ),
        )
        .where(*base)
        .group_by(Submission.team_id, Submission.user_id)
    ).all()
    entrants = _by_entrant(session, comp, rows)
    runs = session.scalar(select(func.coalesce(func.sum(Submission.runs_done), 0)).where(*base))
    submissions_seconds = sum(e.device_seconds for e in entrants)
    preparation = float(comp.preparation_device_seconds or 0.0) if only is None else None
    return CompetitionCompute(
        competition=comp.slug,
        submissions=sum(e.submissions for e in entrants),
        runs=int(runs or 0),
        submissions_device_seconds=round(submissions_seconds, 3),
        preparation_device_seconds=preparation,
        baselines_device_seconds=None
        if only is not None
        else float((comp.reference_summary or {}).get("baseline_device_seconds") or 0.0),
        total_device_seconds=round(submissions_seconds + (preparation or 0.0), 3),
        entrants=entrants,
    )


def _by_entrant(session: Session, comp: Competition, rows) -> list[EntrantCompute]:
    """The per-(team, user) sums added up per entrant (a team, or a participant alone),
    most device time first."""
    by_entrant: dict[tuple[str, bool], list[float]] = {}
    team_names = dict(
        session.execute(select(Team.id, Team.name).where(Team.competition_id == comp.id)).all()
    )
    user_ids = {uid for tid, uid, *_ in rows if tid is None}
    user_names = (
        dict(session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all())
        if user_ids
        else {}
    )
    for team_id, user_id, n, seconds, uncharged in rows:
        key = (team_names[team_id], True) if team_id is not None else (user_names[user_id], False)
        acc = by_entrant.setdefault(key, [0, 0.0, 0.0])
        acc[0] += n
        acc[1] += float(seconds)
        acc[2] += float(uncharged)
    return sorted(
        (
            EntrantCompute(
                entrant=name,
                team=is_team,
                submissions=int(n),
                device_seconds=round(seconds, 3),
                platform_failures_device_seconds=round(uncharged, 3),
            )
            for (name, is_team), (n, seconds, uncharged) in by_entrant.items()
        ),
        key=lambda e: -e.device_seconds,
    )
