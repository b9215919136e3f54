"""The transition tables of every status column, and the one conditional update that moves a
row from a state to another (:func:`move`) or a loaded row in Python (:func:`change`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, or_, update
from sqlalchemy.orm import Session

from core.models import (
    Base,
    ChunkStatus,
    Competition,
    CompetitionStatus,
    PrivateStage,
    Run,
    RunStatus,
    Submission,
    SubmissionStatus,
    WorkChunk,
)

S, P, C, K, R = SubmissionStatus, PrivateStage, CompetitionStatus, ChunkStatus, RunStatus

#: state → the states it may move to, per (table, column). ``None``: no private stage yet.
TRANSITIONS: dict[tuple[type, str], dict[Any, frozenset[Any]]] = {
    (Submission, "status"): {
        S.QUEUED: frozenset({S.QUEUED, S.RUNNING, S.FAILED, S.CANCELLED}),
        S.RUNNING: frozenset({S.QUEUED, S.SCORED, S.FAILED, S.CANCELLED}),
        S.SCORED: frozenset({S.QUEUED, S.FAILED}),  # rescoring: rerun, or no longer scorable
        S.FAILED: frozenset({S.QUEUED}),  # rescoring with rerun
        S.CANCELLED: frozenset(),
    },
    (Submission, "private_stage"): {
        None: frozenset({P.QUEUED}),
        P.QUEUED: frozenset({P.RUNNING, P.FAILED}),
        P.RUNNING: frozenset({P.QUEUED, P.SCORED, P.FAILED}),
        P.SCORED: frozenset(),
        P.FAILED: frozenset({P.QUEUED}),
    },
    (WorkChunk, "status"): {
        K.QUEUED: frozenset({K.RUNNING, K.ABANDONED}),
        K.RUNNING: frozenset({K.QUEUED, K.DONE, K.FAILED, K.ABANDONED}),
        K.DONE: frozenset(),
        K.FAILED: frozenset(),
        K.ABANDONED: frozenset(),
    },
    (Run, "status"): {
        None: frozenset({R.RUNNING}),
        R.QUEUED: frozenset({R.RUNNING}),
        R.RUNNING: frozenset({R.RUNNING, R.FINISHED, R.OVER_BUDGET, R.FAILED}),
        R.FINISHED: frozenset({R.RUNNING}),  # its outputs were lost: run again
        R.OVER_BUDGET: frozenset({R.RUNNING}),
        R.FAILED: frozenset({R.RUNNING}),
    },
    (Competition, "status"): {
        C.DRAFT: frozenset({C.DRAFT, C.PREPARING}),
        C.PREPARING: frozenset({C.PREPARING, C.READY, C.OPEN, C.FAILED, C.DRAFT}),
        C.READY: frozenset({C.OPEN, C.DRAFT, C.PREPARING}),
        C.OPEN: frozenset({C.CLOSED, C.DRAFT, C.PREPARING}),
        C.CLOSED: frozenset({C.OPEN, C.DRAFT, C.PREPARING}),
        C.FAILED: frozenset({C.DRAFT, C.PREPARING}),
    },
}

INITIAL = {
    (Submission, "status"): S.QUEUED,
    (WorkChunk, "status"): K.QUEUED,
    (Competition, "status"): C.DRAFT,
}


class IllegalTransition(RuntimeError):
    """A status change that the transition tables do not allow."""


def allowed(model: type, column: str, frm: Any, to: Any) -> bool:
    return to in TRANSITIONS[(model, column)].get(frm, frozenset())


def _check(model: type, column: str, frm: Iterable[Any], to: Any) -> list[Any]:
    sources = list(frm)
    bad = [f for f in sources if not allowed(model, column, f, to)]
    if bad or not sources:
        raise IllegalTransition(
            f"{model.__name__}.{column}: {bad or sources} -> {to} is not allowed"
        )
    return sources


def move(
    session: Session,
    model: type,
    column: str,
    where: Iterable[ColumnElement[bool]],
    *,
    frm: Iterable[Any],
    to: Any,
    **values: Any,
) -> int:
    """Move the rows of ``model`` that match ``where`` and are in one of ``frm`` to ``to``
    (setting ``values`` too), in one conditional UPDATE; the number of rows moved."""
    sources = _check(model, column, frm, to)
    col = getattr(model, column)
    in_source = [s for s in sources if s is not None]
    if None in sources:
        cond = or_(col.in_(in_source), col.is_(None)) if in_source else col.is_(None)
    else:
        cond = col.in_(in_source)
    stmt = update(model).where(*where, cond).values({column: to, **values})
    result: CursorResult[Any] = session.execute(stmt)  # type: ignore[assignment]
    return int(result.rowcount)


def change(obj: Any, column: str, to: Any, **values: Any) -> None:
    """Change a loaded row's state in Python (the caller holds the row, e.g. under a lock)."""
    _check(type(obj), column, [getattr(obj, column)], to)
    setattr(obj, column, to)
    for key, value in values.items():
        setattr(obj, key, value)


def initial(model: type[Base], column: str = "status") -> Any:
    """The state a new row starts in."""
    return INITIAL[(model, column)]
