"""Staged N (``scoring.n_models: {public: P, private: Q}``): at the close, the final picks are
run up to Q runs (runs 0..P-1 are reused: runs are seeded by index) and scored against all Q
references for the private board. Which submissions: per entrant and per leaderboard, the
final picks, or else the best public ones up to ``limits.max_final_submissions``: exactly the
ones the private board chooses from.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import state
from core.errors import Conflict
from core.models import Competition, Submission
from core.queue import enqueue_private_stage
from server.leaderboard.entries import final_candidates, scored_by_entrant
from server.services.lookup import config_of
from server.services.phases import boards, phases_of_board


def candidates(session: Session, comp: Competition) -> list[int]:
    """The submissions the private boards choose from (ids, without duplicates): the same
    selection as the private leaderboard's (``leaderboard.final_candidates``)."""
    cfg = config_of(comp)
    chosen: list[int] = []
    for board in boards(cfg):
        for subs in scored_by_entrant(session, comp, phases_of_board(cfg, board)).values():
            for sub in final_candidates(subs, cfg):
                if sub.id not in chosen:
                    chosen.append(sub.id)
    return chosen


def start_private_stage(session: Session, comp: Competition) -> dict[str, int]:
    """Queue the private stage of every candidate not already done or under way. Commits."""
    cfg = config_of(comp)
    if not cfg.scoring.staged:
        raise Conflict(
            f"N is not staged in {comp.slug!r}: private scores are computed with the public ones "
            "at upload. Set scoring.n_models to {public: P, private: Q} to stage it.",
        )
    ids = candidates(session, comp)
    queued: list[int] = []
    for sub in session.scalars(select(Submission).where(Submission.id.in_(ids))):
        if state.queue_private_stage(sub):
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
