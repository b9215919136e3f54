"""Status changes of fanned-out work: chunks, runs, and preparations (a competition's status)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from core.models import (
    ChunkStatus,
    Competition,
    Run,
    RunStatus,
    WorkChunk,
    utcnow,
)
from core.state.machine import C, K, R, change, move

# --- chunks of fanned-out work ----------------------------------------------------------------


def claim_chunk(session: Session, chunk_id: int, worker: str | None) -> bool:
    now = utcnow()
    return bool(
        move(
            session,
            WorkChunk,
            "status",
            [WorkChunk.id == chunk_id],
            frm=[K.QUEUED],
            to=K.RUNNING,
            worker=(worker or "")[:255] or None,
            heartbeat_at=now,
        )
    )


def finish_chunk(
    session: Session, where: Iterable[ColumnElement[bool]], status: ChunkStatus
) -> bool:
    """End a running chunk (``where``: the one this worker holds): done, failed or abandoned."""
    return bool(
        move(session, WorkChunk, "status", where, frm=[K.RUNNING], to=status, finished_at=utcnow())
    )


def requeue_chunk(session: Session, where: Iterable[ColumnElement[bool]], **values: Any) -> bool:
    """A chunk whose worker went quiet goes back to its queue."""
    return bool(
        move(
            session,
            WorkChunk,
            "status",
            where,
            frm=[K.RUNNING],
            to=K.QUEUED,
            worker=None,
            heartbeat_at=None,
            **values,
        )
    )


def fail_chunk(session: Session, where: Iterable[ColumnElement[bool]], **values: Any) -> bool:
    return bool(
        move(
            session,
            WorkChunk,
            "status",
            where,
            frm=[K.RUNNING],
            to=K.FAILED,
            finished_at=utcnow(),
            **values,
        )
    )


def abandon_chunks(session: Session, where: Iterable[ColumnElement[bool]]) -> int:
    """The unfinished chunks of work that ended (failed, cancelled) before they did."""
    return move(
        session,
        WorkChunk,
        "status",
        where,
        frm=[K.QUEUED, K.RUNNING],
        to=K.ABANDONED,
        finished_at=utcnow(),
    )


# --- runs -------------------------------------------------------------------------------------

RUN_OUTCOMES = {"finished": R.FINISHED, "over_budget": R.OVER_BUDGET}


def start_run(run: Run) -> None:
    change(run, "status", R.RUNNING)


def record_run_outcome(run: Run, outcome: str, **values: Any) -> RunStatus:
    """A run's result: finished, over its budget, or failed (any other outcome)."""
    status = RUN_OUTCOMES.get(outcome, R.FAILED)
    change(run, "status", status, finished_at=utcnow(), **values)
    return status


# --- preparations (a competition's status) ---------------------------------------------------


def start_preparation(comp: Competition, **values: Any) -> None:
    change(comp, "status", C.PREPARING, **values)


def back_to_draft(comp: Competition, message: str | None) -> None:
    """Its data, model or recipe changed: what was prepared no longer holds."""
    change(comp, "status", C.DRAFT, status_message=message)


def preparation_done(
    session: Session, competition_id: int, *, open_now: bool, **values: Any
) -> bool:
    return bool(
        move(
            session,
            Competition,
            "status",
            [Competition.id == competition_id],
            frm=[C.PREPARING],
            to=C.OPEN if open_now else C.READY,
            **values,
        )
    )


def fail_preparation(
    session: Session,
    competition_id: int,
    message: str,
    *,
    guard: Iterable[ColumnElement[bool]] = (),
    **values: Any,
) -> bool:
    return bool(
        move(
            session,
            Competition,
            "status",
            [Competition.id == competition_id, *guard],
            frm=[C.PREPARING],
            to=C.FAILED,
            status_message=message,
            **values,
        )
    )
