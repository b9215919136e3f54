"""A board as CSV (organizers' export)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.csvsafe import csv_text
from core.models import Submission
from server.schemas import Leaderboard


def messages_of(session: Session, board: Leaderboard) -> dict[int, str | None]:
    """The notes of the submissions a board shows."""
    ids = [r.submission_id for r in board.rows if r.submission_id]
    if not ids:
        return {}
    rows = session.execute(
        select(Submission.id, Submission.message).where(Submission.id.in_(ids))
    ).all()
    return dict(rows)


CSV_COLUMNS = (
    "rank",
    "name",
    "team",
    "score",
    "score_ci_low",
    "score_ci_high",
    "tied_with_next",
    "forgetting_quality",
    "retain_ratio",
    "test_ratio",
    "submissions",
    "last_submitted_at",
    "submission_id",
    "message",
    "reference",
    "rank_low",
    "rank_high",
)


def to_csv(board: Leaderboard, messages: dict[int, str | None] | None = None) -> str:
    """The rows as CSV; ``messages``: the submitters' notes by submission id (organizers).
    Every cell goes through ``core.csvsafe`` (no formula reaches a spreadsheet)."""
    messages = messages or {}
    rows = []
    for r in board.rows:
        low, high = (r.score_ci or [None, None])[:2]
        rows.append(
            [
                r.rank,
                r.name,
                r.team,
                r.score,
                low,
                high,
                r.tied_with_next,
                r.forgetting_quality,
                r.retain_ratio,
                r.test_ratio,
                r.submissions,
                r.last_submitted_at,
                r.submission_id,
                messages.get(r.submission_id) if r.submission_id else None,
                r.reference,
                *(r.rank_interval or [None, None]),
            ]
        )
    return csv_text(CSV_COLUMNS, rows)
