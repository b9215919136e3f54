"""The public leaderboard: each participant's best scored submission, plus reference rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import scoring
from server.models import Competition, Submission, SubmissionStatus, User
from server.schemas import Leaderboard, LeaderboardRow
from server.services.competitions import config_of


@dataclass
class _Entry:
    row: LeaderboardRow
    points: np.ndarray | None
    factor: float


def _points(result: dict | None, n_models: int) -> np.ndarray | None:
    eps = (result or {}).get("epsilons")
    if not eps:
        return None
    arr = np.array([np.nan if e is None else e for e in eps], dtype=float)
    return scoring.epsilon_points(arr, n_models)


def build_leaderboard(session: Session, comp: Competition) -> Leaderboard:
    cfg = config_of(comp)
    scored = session.execute(
        select(Submission, User.username)
        .join(User, User.id == Submission.user_id)
        .where(Submission.competition_id == comp.id, Submission.status == SubmissionStatus.SCORED)
        .order_by(Submission.score.desc(), Submission.created_at.asc())
    ).all()
    activity = {
        user_id: (count, latest)
        for user_id, count, latest in session.execute(
            select(Submission.user_id, func.count(Submission.id), func.max(Submission.created_at))
            .where(Submission.competition_id == comp.id)
            .group_by(Submission.user_id)
        )
    }
    entries: list[_Entry] = []
    seen: set[int] = set()
    for sub, username in scored:
        if sub.user_id in seen:
            continue
        seen.add(sub.user_id)
        row = LeaderboardRow(
            rank=len(entries) + 1,
            name=username,
            score=sub.score,
            score_ci=[sub.score_ci_low, sub.score_ci_high],
            forgetting_quality=sub.forgetting_quality,
            retain_ratio=sub.retain_ratio,
            test_ratio=sub.test_ratio,
            submissions=activity[sub.user_id][0],
            last_submitted_at=activity[sub.user_id][1],
            submission_id=sub.id,
        )
        factor = (sub.retain_ratio or 0.0) * (sub.test_ratio or 0.0)
        entries.append(_Entry(row, _points(sub.result, sub.n_models), factor))

    for a, b in zip(entries, entries[1:], strict=False):
        if a.points is not None and b.points is not None and a.points.shape == b.points.shape:
            a.row.tied_with_next = scoring.statistically_tied(
                a.points, a.factor, b.points, b.factor, n_resamples=cfg.scoring.bootstrap_resamples
            )

    rows = [e.row for e in entries]
    for ref in (comp.reference_summary or {}).values():
        if isinstance(ref, dict) and "score" in ref:
            rows.append(
                LeaderboardRow(
                    rank=None,
                    name=ref["name"],
                    score=ref["score"],
                    score_ci=ref.get("score_ci"),
                    forgetting_quality=ref.get("forgetting_quality"),
                    retain_ratio=ref.get("retain_ratio"),
                    test_ratio=ref.get("test_ratio"),
                    reference=True,
                )
            )
    rows.sort(key=lambda r: (-(r.score if r.score is not None else -1.0), r.reference))
    return Leaderboard(
        competition=comp.slug, board="public", n_models=cfg.scoring.n_models, rows=rows
    )
