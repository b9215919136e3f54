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

Guard = Iterable[ColumnElement[bool]]


def _chunks(session: Session, where: Guard, frm: Iterable[Any], to: Any, **values: Any) -> int:
    return move(session, WorkChunk, "status", where, frm=frm, to=to, **values)


# --- chunks of fanned-out work ----------------------------------------------------------------


def claim_chunk(session: Session, chunk_id: int, worker: str | None) -> bool:
    worker_name = (worker or "")[:255] or None
    where = [WorkChunk.id == chunk_id]
    return bool(
        _chunks(session, where, [K.QUEUED], K.RUNNING, worker=worker_name, heartbeat_at=utcnow())
    )


def finish_chunk(session: Session, where: Guard, status: ChunkStatus) -> bool:
    """End a running chunk (``where``: the one this worker holds): done, failed or abandoned."""
    return bool(_chunks(session, where, [K.RUNNING], status, finished_at=utcnow()))


def requeue_chunk(session: Session, where: Guard, **values: Any) -> bool:
    """A chunk whose worker went quiet goes back to its queue."""
    return bool(
        _chunks(session, where, [K.RUNNING], K.QUEUED, worker=None, heartbeat_at=None, **values)
    )


def fail_chunk(session: Session, where: Guard, **values: Any) -> bool:
    return bool(_chunks(session, where, [K.RUNNING], K.FAILED, finished_at=utcnow(), **values))


def abandon_chunks(session: Session, where: Guard) -> int:
    """The unfinished chunks of work that ended (failed, cancelled) before they did."""
    return _chunks(session, where, [K.QUEUED, K.RUNNING], K.ABANDONED, finished_at=utcnow())


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


def _competition(session: Session, cid: int, to: Any, *guard: Any, **values: Any) -> bool:
    """A preparation under way ends: ready (or open), or failed."""
    where = [Competition.id == cid, *guard]
    return bool(move(session, Competition, "status", where, frm=[C.PREPARING], to=to, **values))


def start_preparation(comp: Competition, **values: Any) -> None:
    change(comp, "status", C.PREPARING, **values)


def back_to_draft(comp: Competition, message: str | None) -> None:
    """Its data, model or recipe changed: what was prepared no longer holds."""
    change(comp, "status", C.DRAFT, status_message=message)


def preparation_done(
    session: Session, competition_id: int, *, open_now: bool, **values: Any
) -> bool:
    return _competition(session, competition_id, C.OPEN if open_now else C.READY, **values)


def fail_preparation(
    session: Session, competition_id: int, message: str, *, guard: Guard = (), **values: Any
) -> bool:
    return _competition(session, competition_id, C.FAILED, *guard, status_message=message, **values)
