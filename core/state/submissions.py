"""Status changes of submissions: the first (public) stage and the private stage."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from core.models import FailureReason, Submission, SubmissionStatus, utcnow
from core.state.machine import P, S, change, move

Guard = Iterable[ColumnElement[bool]]


def _status(session: Session, sid: int, frm: Iterable[Any], to: Any, *guard: Any, **v: Any) -> bool:
    """One submission's status, from ``frm`` to ``to``."""
    return bool(
        move(session, Submission, "status", [Submission.id == sid, *guard], frm=frm, to=to, **v)
    )


def _stage(session: Session, sid: int, frm: Iterable[Any], to: Any, *guard: Any, **v: Any) -> bool:
    """One submission's private stage, from ``frm`` to ``to``."""
    where = [Submission.id == sid, *guard]
    return bool(move(session, Submission, "private_stage", where, frm=frm, to=to, **v))


# --- the first (public) stage ---------------------------------------------------------------


def claim_submission(session: Session, submission_id: int, worker: str | None) -> bool:
    now = utcnow()
    worker_name = (worker or "")[:255] or None
    return _status(
        session, submission_id, [S.QUEUED], S.RUNNING,
        started_at=now, heartbeat_at=now, worker=worker_name,
    )  # fmt: skip


def fail_submission(
    session: Session,
    submission_id: int,
    reason: FailureReason,
    message: str,
    *,
    counts: bool,
    frm: Iterable[SubmissionStatus] = (S.RUNNING,),
    guard: Guard = (),
    **values: Any,
) -> bool:
    """Fail a submission still in ``frm`` (never overwrite a cancel or a score)."""
    return _status(
        session, submission_id, frm, S.FAILED, *guard,
        failure_reason=reason, failure_message=message, counts_against_quota=counts,
        finished_at=utcnow(), **values,
    )  # fmt: skip


def finish_submission(session: Session, submission_id: int, **columns: Any) -> bool:
    """Running → scored, with the result's columns."""
    return _status(session, submission_id, [S.RUNNING], S.SCORED, finished_at=utcnow(), **columns)


def requeue_submission(
    session: Session, where: Guard, *, frm: Iterable[SubmissionStatus] = (S.RUNNING,), **values: Any
) -> int:
    """Back to the queue (a lost worker, a restart, a rescore that runs them again)."""
    return move(session, Submission, "status", where, frm=frm, to=S.QUEUED, **values)


def cancel_submission(
    session: Session, submission_id: int, frm: SubmissionStatus, message: str
) -> bool:
    return _status(
        session, submission_id, [frm], S.CANCELLED,
        finished_at=utcnow(), failure_message=message, counts_against_quota=False,
    )  # fmt: skip


# --- the private stage (staged N) -----------------------------------------------------------


def queue_private_stage(sub: Submission) -> bool:
    """A final pick without a private stage (or with a failed one) waits for it."""
    if sub.private_stage not in (None, P.FAILED):
        return False
    change(sub, "private_stage", P.QUEUED, private_stage_message=None)
    return True


def claim_private_stage(session: Session, submission_id: int) -> bool:
    scored = Submission.status == S.SCORED
    return _stage(session, submission_id, [P.QUEUED], P.RUNNING, scored, heartbeat_at=utcnow())


def fail_private_stage(
    session: Session, submission_id: int, message: str, *, guard: Guard = (), **values: Any
) -> bool:
    """The public score stands; the private part's board goes without this submission."""
    return _stage(
        session, submission_id, [P.RUNNING], P.FAILED, *guard,
        private_stage_message=message[:4000], **values,
    )  # fmt: skip


def finish_private_stage(session: Session, submission_id: int, **columns: Any) -> bool:
    scored = Submission.status == S.SCORED
    return _stage(
        session, submission_id, [P.RUNNING], P.SCORED, scored,
        private_stage_message=None, **columns,
    )  # fmt: skip


def requeue_private_stage(
    session: Session, submission_id: int, *, guard: Guard = (), **values: Any
) -> bool:
    return _stage(session, submission_id, [P.RUNNING], P.QUEUED, *guard, **values)
