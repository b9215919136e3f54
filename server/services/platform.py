"""Start-up chores of the platform: seed the demo, recover work interrupted by a stop."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core import state
from core.bundle import read_folder
from core.bundle_validation import check_bundle
from core.competition_config import CompetitionConfig, demo_config
from core.models import (
    Competition,
    CompetitionStatus,
    Run,
    RunStatus,
    Submission,
    SubmissionStatus,
    WorkChunk,
)
from core.queue import enqueue_preparation, enqueue_scoring
from core.storage import Storage
from server.services.competitions import create_competition


def seed_competition(session: Session, config: CompetitionConfig) -> Competition:
    """Create the competition unless a competition with its slug exists."""
    existing = session.scalar(select(Competition).where(Competition.slug == config.slug))
    return existing or create_competition(session, config)


DEMO_BUNDLE = Path(__file__).resolve().parents[2] / "examples" / "competitions" / "digits-demo"


def seed_demo(session: Session, storage: Storage | None = None) -> Competition:
    """The demo competition; with ``storage``, its pages and starter kit from its bundle in
    examples/ (when the installation has it; the settings are :func:`demo_config`'s)."""
    existing = session.scalar(select(Competition).where(Competition.slug == "digits-demo"))
    if existing is not None or storage is None or not DEMO_BUNDLE.is_dir():
        return existing or seed_competition(session, demo_config())
    checked = check_bundle(read_folder(DEMO_BUNDLE))
    checked = replace(checked, config=demo_config())
    data = checked.stored_files().to_zip()
    sha = hashlib.sha256(data).hexdigest()
    path = storage.bundle_file("digits-demo", sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    storage.push(path)
    return create_competition(session, demo_config(), bundle=checked.metadata(path.name, sha))


def recover_interrupted(session: Session) -> None:
    """Put work that a stopped single-node platform left half done back in the queue.

    Only safe when this process owns every worker (the embedded mode): a submission or a
    preparation that is "running" then has nobody working on it.
    """
    running = select(Submission.id).where(Submission.status == SubmissionStatus.RUNNING)
    session.execute(delete(WorkChunk))  # planned again by the requeued work
    session.execute(
        delete(Run).where(Run.submission_id.in_(running), Run.status == RunStatus.RUNNING)
    )
    state.requeue_submission(session, [])
    session.commit()


def enqueue_pending(session: Session, resume_preparing: bool = True) -> tuple[int, int]:
    """Queue the preparations asked for (or, for demos, implied) and the queued submissions.

    A competition in ``preparing`` had its preparation requested (by an organizer, or by a
    stop in the middle): it resumes (only when this process owns every worker, so that no
    preparation runs twice). A draft with ``open_when_ready`` (the demo) starts.
    """
    drafts = [
        c.id
        for c in session.scalars(
            select(Competition).where(
                Competition.status.in_([CompetitionStatus.DRAFT, CompetitionStatus.PREPARING])
            )
        )
        if (c.status == CompetitionStatus.PREPARING and resume_preparing)
        or (c.status == CompetitionStatus.DRAFT and c.config.get("open_when_ready"))
    ]
    queued = session.scalars(
        select(Submission.id).where(Submission.status == SubmissionStatus.QUEUED)
    ).all()
    for cid in drafts:
        enqueue_preparation(cid)
    for sid in queued:
        enqueue_scoring(sid)
    return len(drafts), len(queued)
