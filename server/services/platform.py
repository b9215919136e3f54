"""Start-up chores of the platform: seed the demo, recover work interrupted by a stop."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from server.competition_config import CompetitionConfig, demo_config
from server.models import (
    Competition,
    CompetitionStatus,
    Run,
    RunStatus,
    Submission,
    SubmissionStatus,
)
from server.queue import enqueue_preparation, enqueue_scoring
from server.services.competitions import create_competition


def seed_competition(session: Session, config: CompetitionConfig) -> Competition:
    """Create the competition unless a competition with its slug exists."""
    existing = session.scalar(select(Competition).where(Competition.slug == config.slug))
    return existing or create_competition(session, config)


def seed_demo(session: Session) -> Competition:
    return seed_competition(session, demo_config())


def recover_interrupted(session: Session) -> None:
    """Put work that a stopped single-node platform left half done back in the queue.

    Only safe when this process owns every worker (the embedded mode): a submission or a
    preparation that is "running" then has nobody working on it.
    """
    session.execute(
        update(Competition)
        .where(Competition.status == CompetitionStatus.PREPARING)
        .values(status=CompetitionStatus.DRAFT)
    )
    running = select(Submission.id).where(Submission.status == SubmissionStatus.RUNNING)
    session.execute(
        delete(Run).where(Run.submission_id.in_(running), Run.status == RunStatus.RUNNING)
    )
    session.execute(
        update(Submission)
        .where(Submission.status == SubmissionStatus.RUNNING)
        .values(status=SubmissionStatus.QUEUED)
    )
    session.commit()


def enqueue_pending(session: Session) -> tuple[int, int]:
    """Queue preparation of draft competitions and scoring of queued submissions."""
    drafts = session.scalars(
        select(Competition.id).where(Competition.status == CompetitionStatus.DRAFT)
    ).all()
    queued = session.scalars(
        select(Submission.id).where(Submission.status == SubmissionStatus.QUEUED)
    ).all()
    for cid in drafts:
        enqueue_preparation(cid)
    for sid in queued:
        enqueue_scoring(sid)
    return len(drafts), len(queued)
