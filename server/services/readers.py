"""Who may read a submission and its note (message, method name, link): its submitter, their
team, and the competition's organizers; nobody else, logged in or not.

One rule for every way a submission or its note goes out: the submission's API answer and
page (``submissions.view_for``) and the notes column of a leaderboard export
(``server/leaderboard/export.py``). The anonymous and the other participants' views (the board
as JSON, CSV and pages) carry no note (docs/security.md, "What a reader can read").
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.models import Competition, Submission, TeamMember, User
from server.services.access import manages

CHUNK = 500  # ids per query


def readable(
    session: Session, viewer: User | None, comp: Competition, ids: Iterable[int]
) -> set[int]:
    """Those of the competition's submissions ``ids`` that ``viewer`` may read."""
    wanted = sorted({i for i in ids if i is not None})
    if viewer is None or not wanted:
        return set()
    mine = None
    if not manages(session, viewer, comp):
        teams = select(TeamMember.team_id).where(TeamMember.user_id == viewer.id)
        mine = or_(Submission.user_id == viewer.id, Submission.team_id.in_(teams))
    found: set[int] = set()
    for i in range(0, len(wanted), CHUNK):
        query = select(Submission.id).where(
            Submission.competition_id == comp.id, Submission.id.in_(wanted[i : i + CHUNK])
        )
        found.update(session.scalars(query if mine is None else query.where(mine)))
    return found


def can_read(session: Session, viewer: User | None, sub: Submission) -> bool:
    return sub.id in readable(session, viewer, sub.competition, [sub.id])


def notes_of(
    session: Session, viewer: User | None, comp: Competition, ids: Iterable[int]
) -> dict[int, str | None]:
    """The messages of the submissions ``ids`` that ``viewer`` may read (the others: none)."""
    allowed = readable(session, viewer, comp, ids)
    if not allowed:
        return {}
    wanted = sorted(allowed)
    notes: dict[int, str | None] = {}
    for i in range(0, len(wanted), CHUNK):
        chunk = wanted[i : i + CHUNK]
        query = select(Submission.id, Submission.message).where(Submission.id.in_(chunk))
        for sid, message in session.execute(query):
            notes[sid] = message
    return notes
