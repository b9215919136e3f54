"""Status changes of submissions: the first (public) stage and the private stage."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from core.models import (
    FailureReason,
    Submission,
    SubmissionStatus,
    utcnow,
)
from core.state.machine import P, S, change, move

# --- submissions: the first (public) stage --------------------------------------------------


def claim_submission(session: Session, submission_id: int, worker: str | None) -> bool:
    now = utcnow()
    return bool(
        move(
            session,
            Submission,
            "status",
            [Submission.id == submission_id],
            frm=[S.QUEUED],
            to=S.RUNNING,
            started_at=now,
            heartbeat_at=now,
            worker=(worker or "")[:255] or None,
        )
    )


def fail_submission(
    session: Session,
    submission_id: int,
    reason: FailureReason,
    message: str,
    *,
    counts: bool,
    frm: Iterable[SubmissionStatus] = (S.RUNNING,),
    guard: Iterable[ColumnElement[bool]] = (),
    **values: Any,
) -> bool:
    """Fail a submission still in ``frm`` (never overwrite a cancel or a score)."""
    return bool(
        move(
            session,
            Submission,
            "status",
            [Submission.id == submission_id, *guard],
            frm=frm,
            to=S.FAILED,
            failure_reason=reason,
            failure_message=message,
            counts_against_quota=counts,
            finished_at=utcnow(),
            **values,
        )
    )


def finish_submission(session: Session, submission_id: int, **columns: Any) -> bool:
    """Running → scored, with the result's columns."""
    return bool(
        move(
            session,
            Submission,
            "status",
            [Submission.id == submission_id],
            frm=[S.RUNNING],
            to=S.SCORED,
            finished_at=utcnow(),
            **columns,
        )
    )


def requeue_submission(
    session: Session,
    where: Iterable[ColumnElement[bool]],
    *,
    frm: Iterable[SubmissionStatus] = (S.RUNNING,),
    **values: Any,
) -> int:
    """Back to the queue (a lost worker, a restart, a rescore that runs them again)."""
    return move(session, Submission, "status", where, frm=frm, to=S.QUEUED, **values)


def cancel_submission(
    session: Session, submission_id: int, frm: SubmissionStatus, message: str
) -> bool:
    return bool(
        move(
            session,
            Submission,
            "status",
            [Submission.id == submission_id],
            frm=[frm],
            to=S.CANCELLED,
            finished_at=utcnow(),
            failure_message=message,
            counts_against_quota=False,
        )
    )


# --- submissions: the private stage (staged N) ----------------------------------------------


def queue_private_stage(sub: Submission) -> bool:
    """A final pick without a private stage (or with a failed one) waits for it."""
    if sub.private_stage not in (None, P.FAILED):
        return False
    change(sub, "private_stage", P.QUEUED, private_stage_message=None)
    return True


def claim_private_stage(session: Session, submission_id: int) -> bool:
    return bool(
        move(
            session,
            Submission,
            "private_stage",
            [Submission.id == submission_id, Submission.status == S.SCORED],
            frm=[P.QUEUED],
            to=P.RUNNING,
            heartbeat_at=utcnow(),
        )
    )


def fail_private_stage(
    session: Session,
    submission_id: int,
    message: str,
    *,
    guard: Iterable[ColumnElement[bool]] = (),
    **values: Any,
) -> bool:
    """The public score stands; the private board goes without this submission."""
    return bool(
        move(
            session,
            Submission,
            "private_stage",
            [Submission.id == submission_id, *guard],
            frm=[P.RUNNING],
            to=P.FAILED,
            private_stage_message=message[:4000],
            **values,
        )
    )


def finish_private_stage(session: Session, submission_id: int, **columns: Any) -> bool:
    return bool(
        move(
            session,
            Submission,
            "private_stage",
            [Submission.id == submission_id, Submission.status == S.SCORED],
            frm=[P.RUNNING],
            to=P.SCORED,
            private_stage_message=None,
            **columns,
        )
    )


def requeue_private_stage(
    session: Session,
    submission_id: int,
    *,
    guard: Iterable[ColumnElement[bool]] = (),
    **values: Any,
) -> bool:
    return bool(
        move(
            session,
            Submission,
            "private_stage",
            [Submission.id == submission_id, *guard],
            frm=[P.RUNNING],
            to=P.QUEUED,
            **values,
        )
    )
