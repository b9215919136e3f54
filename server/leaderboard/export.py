"""A board as CSV (organizers' export)."""

from __future__ import annotations

import csv
import io

from server.schemas import Leaderboard

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
    "reference",
)


def to_csv(board: Leaderboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in board.rows:
        low, high = (r.score_ci or [None, None])[:2]
        writer.writerow(
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
                r.last_submitted_at.isoformat() if r.last_submitted_at else "",
                r.submission_id,
                r.reference,
            ]
        )
    return out.getvalue()
