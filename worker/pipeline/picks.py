"""After a final pick's private stage ends (scored or failed): once none is left waiting, the
validity report is refreshed with the private board complete."""

from __future__ import annotations

from sqlalchemy import func, select

from core.db import session_scope
from core.models import PrivateStage, Submission
from core.queue import enqueue_validity


def private_stage_ended(competition_id: int) -> bool:
    """Queue the report when no private stage of the competition is queued or running."""
    with session_scope() as s:
        waiting = s.scalar(
            select(func.count()).where(
                Submission.competition_id == competition_id,
                Submission.private_stage.in_([PrivateStage.QUEUED, PrivateStage.RUNNING]),
            )
        )
    return not waiting and enqueue_validity(competition_id, "private stage")
