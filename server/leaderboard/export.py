"""A board as CSV: anyone's export of a board they may read; the notes column carries only
the notes the reader may read."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.csvsafe import csv_text
from core.models import Competition, User
from core.settings import get_settings
from server.leaderboard import cache as board_cache
from server.leaderboard.board import Part, build_leaderboard
from server.precision import published
from server.schemas import Leaderboard
from server.services import readers

WHOLE_BOARD = 1_000_000  # an export has every row


def board_csv(
    session: Session, comp: Competition, phase: str | None, part: Part, viewer: User | None
) -> str:
    """A board as CSV for ``viewer``. The anonymous export of a public board is the same for
    everyone: cached like the board (``server/leaderboard/cache.py``), so repeated downloads
    cost one build per TTL."""

    def build() -> str:
        board = build_leaderboard(session, comp, phase, part, viewer, per_page=WHOLE_BOARD)
        return export_csv(session, comp, board, viewer)

    if viewer is not None or part != "public":
        return build()
    key = (comp.id, comp.scoring_version, phase, part, "csv")
    return board_cache.boards.get(key, get_settings().leaderboard_cache_seconds, build)


def export_csv(session: Session, comp: Competition, board: Leaderboard, viewer: User | None) -> str:
    """The board as CSV for ``viewer``: notes only of the submissions they may read (their
    own and their team's; organizers: all), by ``server/services/readers.py``."""
    ids = [r.submission_id for r in board.rows if r.submission_id]
    return to_csv(board, readers.notes_of(session, viewer, comp, ids))


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
    """The rows as CSV; ``messages``: the notes the reader may read, by submission id.
    Every cell goes through ``core.csvsafe`` (no formula reaches a spreadsheet)."""
    messages = messages or {}
    rows = []
    for r in published(board).rows:  # at the published precision (server/precision.py)
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
