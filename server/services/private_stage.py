"""Staged N (``scoring.n_models: {public: P, private: Q}``): at the close, the final picks are
run up to Q runs (runs 0..P-1 are reused: runs are seeded by index) and scored against all Q
references for the private board. Which submissions: per entrant and per leaderboard, the
final picks, or else the best public ones up to ``limits.max_final_submissions``: exactly the
ones the private board chooses from.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import (
    Competition,
    Disqualification,
    PrivateStage,
    Submission,
    SubmissionStatus,
)
from server.queue import enqueue_private_stage
from server.services.lookup import config_of
from server.services.phases import boards, phases_of_board


def candidates(session: Session, comp: Competition) -> list[int]:
    """The submissions the private boards choose from (ids, without duplicates)."""
    cfg = config_of(comp)
    banned = {
        (t, u if t is None else None)
        for u, t in session.execute(
            select(Disqualification.user_id, Disqualification.team_id).where(
                Disqualification.competition_id == comp.id
            )
        )
    }
    chosen: list[int] = []
    for board in boards(cfg):
        phases = phases_of_board(cfg, board)
        query = (
            select(
                Submission.id,
                Submission.user_id,
                Submission.team_id,
                Submission.is_final,
            )
            .where(
                Submission.competition_id == comp.id,
                Submission.status == SubmissionStatus.SCORED,
                Submission.scoring_version == comp.scoring_version,
            )
            .order_by(Submission.score.desc(), Submission.created_at.asc())
        )
        if phases is not None:
            query = query.where(Submission.phase.in_(phases))
        by_entrant: dict[tuple, list[Any]] = {}
        for row in session.execute(query):
            key = (row.team_id, row.user_id if row.team_id is None else None)
            if key not in banned:
                by_entrant.setdefault(key, []).append(row)
        for subs in by_entrant.values():
            finals = [s for s in subs if s.is_final]
            for s in finals or subs[: cfg.limits.max_final_submissions]:
                if s.id not in chosen:
                    chosen.append(s.id)
    return chosen


def start_private_stage(session: Session, comp: Competition) -> dict[str, int]:
    """Queue the private stage of every candidate not already done or under way. Commits."""
    cfg = config_of(comp)
    if not cfg.scoring.staged:
        raise ApiError(
            409,
            f"N is not staged in {comp.slug!r}: private scores are computed with the public ones "
            "at upload. Set scoring.n_models to {public: P, private: Q} to stage it.",
        )
    ids = candidates(session, comp)
    queued: list[int] = []
    for sub in session.scalars(select(Submission).where(Submission.id.in_(ids))):
        if sub.private_stage in (None, PrivateStage.FAILED):
            sub.private_stage = PrivateStage.QUEUED
            sub.private_stage_message = None
            queued.append(sub.id)
    session.commit()
    for sid in queued:  # after the commit that the work refers to
        enqueue_private_stage(sid)
    return {"candidates": len(ids), "queued": len(queued)}


def private_stage_progress(session: Session, comp: Competition) -> dict[str, int]:
    rows = session.execute(
        select(Submission.private_stage).where(
            Submission.competition_id == comp.id, Submission.private_stage.is_not(None)
        )
    ).scalars()
    counts: dict[str, int] = {}
    for stage in rows:
        counts[stage] = counts.get(stage, 0) + 1
    return counts
