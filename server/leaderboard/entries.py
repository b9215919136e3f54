"""The rows a board is built from: each entrant's scored submissions (plain columns), their
stored results, activity and names, and the keys of the secondary sorts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

import scoring
from core.models import Competition, Disqualification, Submission, SubmissionStatus, Team, User
from core.results import (
    ScoredRuns,
    SecondaryMetrics,
    load_part,
    load_references,
    load_result,
)
from server.precision import published_figures
from server.schemas import LeaderboardRow


@dataclass
class Entry:
    row: LeaderboardRow
    sub: Any  # a row of COLUMNS
    mask: np.ndarray | None
    factor: float
    result: ScoredRuns | None = None
    n_models: int | None = None

    def points(self) -> np.ndarray | None:
        return points_of(self.result, self.n_models or self.sub.n_models, self.mask)


COLUMNS = (
    Submission.id,
    Submission.user_id,
    Submission.team_id,
    Submission.score,
    Submission.score_ci_low,
    Submission.score_ci_high,
    Submission.private_score,
    Submission.private_score_ci_low,
    Submission.private_score_ci_high,
    Submission.forgetting_quality,
    Submission.retain_ratio,
    Submission.test_ratio,
    Submission.n_models,
    Submission.is_final,
    Submission.created_at,
)


def results_of(session: Session, ids: list[int], load=load_result) -> dict[int, Any]:
    """The stored results of some submissions, validated by ``load`` (the whole result, or
    a part of it), in chunks of one query each."""
    out: dict[int, Any] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        rows = session.execute(
            select(Submission.id, Submission.result).where(Submission.id.in_(chunk))
        ).all()
        out.update((sid, load(stored)) for sid, stored in rows)
    return out


def entrant_key(sub) -> tuple[str, int]:
    return ("team", sub.team_id) if sub.team_id is not None else ("user", sub.user_id)


def points_of(
    result: ScoredRuns | None, n_models: int, mask: np.ndarray | None
) -> np.ndarray | None:
    eps = result.epsilons if result is not None else None
    if not eps:
        return None
    arr = np.array([np.nan if e is None else e for e in eps], dtype=float)
    if mask is not None and mask.shape == arr.shape:
        arr = arr[mask]
    return scoring.epsilon_points(arr, n_models)


def scored_by_entrant(
    session: Session, comp: Competition, phases: list[str] | None
) -> dict[tuple[str, int], list[Any]]:
    """Each entrant's scored submissions of the current scoring version (in ``phases`` when
    given), best public score first; disqualified entrants left out."""
    query = (
        select(*COLUMNS)
        .where(
            Submission.competition_id == comp.id,
            Submission.status == SubmissionStatus.SCORED,
            Submission.scoring_version == comp.scoring_version,
        )
        .order_by(Submission.score.desc(), Submission.created_at.asc())
    )
    if phases is not None:
        query = query.where(Submission.phase.in_(phases))
    scored = session.execute(query).all()  # plain rows: no result JSON, no ORM objects
    banned = {
        ("team", t) if t is not None else ("user", u)
        for u, t in session.execute(
            select(Disqualification.user_id, Disqualification.team_id).where(
                Disqualification.competition_id == comp.id
            )
        )
    }
    by_entrant: dict[tuple[str, int], list[Any]] = {}
    for sub in scored:
        if entrant_key(sub) not in banned:
            by_entrant.setdefault(entrant_key(sub), []).append(sub)
    return by_entrant


def final_candidates(subs: list[Any], cfg) -> list[Any]:
    """What a private board chooses from for one entrant (``subs`` best public first): their
    final picks, else their best public ones up to ``max_final_submissions``."""
    return [s for s in subs if s.is_final] or subs[: cfg.limits.max_final_submissions]


def part_secondary(part: str):
    """A ``load`` for :func:`results_of`: a stored result's secondary metrics over the board's
    part, as published (``server.precision.published_figures``), so that a board sorted by
    one of them orders by what it shows and by nothing computed on another part."""

    def load(stored: dict[str, Any] | None) -> SecondaryMetrics:
        shown = published_figures(load_part(stored, part))["secondary"]
        return SecondaryMetrics.model_validate(shown or {})

    return load


def mia_target(comp: Competition, part: str) -> float | None:
    """The references' own MIA accuracy over the board's part, as published: what an unlearned
    model's MIA should be."""
    retrain = load_references(comp.reference_summary).retrain
    if retrain is None:
        return None
    shown = published_figures(retrain.part(part))["secondary"]
    return (shown or {}).get("mia_target")


def secondary_key(
    metrics: SecondaryMetrics | None, sort: str, target: float | None, rank: int
) -> tuple:
    secondary = metrics or SecondaryMetrics()
    value: float | None
    if sort == "avg_gap":
        value = secondary.avg_gap
    elif sort == "rf_jsd":
        value = secondary.rf_jsd_x1e4
    else:  # mia_gap: distance to the references' MIA (0.5 when unknown)
        mia = secondary.mia
        value = None if mia is None else abs(mia - (target if target is not None else 0.5))
    return (value is None, value if value is not None else 0.0, rank)


def activity_of(
    session: Session, comp: Competition, phases: list[str] | None, keys: list[tuple[str, int]]
) -> dict[tuple[str, int], tuple[int, object]]:
    """(submissions, last submission time) of the given entrants."""
    teams = [k[1] for k in keys if k[0] == "team"]
    users = [k[1] for k in keys if k[0] == "user"]
    if not keys:
        return {}
    query = select(
        Submission.team_id,
        Submission.user_id,
        func.count(Submission.id),
        func.max(Submission.created_at),
    ).where(
        Submission.competition_id == comp.id,
        or_(
            Submission.team_id.in_(teams),
            and_(Submission.team_id.is_(None), Submission.user_id.in_(users)),
        ),
    )
    if phases is not None:
        query = query.where(Submission.phase.in_(phases))
    activity: dict[tuple[str, int], tuple[int, object]] = {}
    for team_id, user_id, count, latest in session.execute(
        query.group_by(Submission.team_id, Submission.user_id)
    ):
        key = ("team", team_id) if team_id is not None else ("user", user_id)
        n, last = activity.get(key, (0, None))
        activity[key] = (n + count, max(latest, last) if last else latest)
    return activity


def names_of(session: Session, keys: list[tuple[str, int]]) -> dict:
    team_ids = [k[1] for k in keys if k[0] == "team"]
    user_ids = [k[1] for k in keys if k[0] == "user"]
    names: dict[tuple[str, int], str] = {}
    if team_ids:
        for tid, name in session.execute(select(Team.id, Team.name).where(Team.id.in_(team_ids))):
            names[("team", tid)] = name
    if user_ids:
        for uid, name in session.execute(
            select(User.id, User.username).where(User.id.in_(user_ids))
        ):
            names[("user", uid)] = name
    return names
