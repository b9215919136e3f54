"""The reaper: nothing stays stuck. Any worker runs it every ``reaper_interval_seconds``
(and `arena reap` runs it once). One function per case, each through :mod:`core.state`:

- ``_stale_chunks`` (``reap_chunks.py``): a **running chunk** (runs or references) whose
  heartbeat is older than ``stale_after_seconds`` lost its worker: it goes back to its class's
  queue (runs and references already recorded are kept) up to ``max_attempts`` tries.
- ``_fail_owners_of_lost_chunks`` (``reap_chunks.py``): a chunk lost on every attempt fails its
  owner: a submission as ``crashed``, counted (the machine stopped answering while the
  participant's code ran); a preparation as failed, resumable.
- ``_lost_chunk_messages`` (``reap_chunks.py``): a **queued chunk** sent that long ago whose
  queue holds no message (lost with a broker restart), or a held-back one nobody will release,
  is sent again; a duplicate is harmless, the claim is atomic.
- ``_reap_running_submissions``: a **running** submission whose heartbeat is stale and that has
  no chunk queued or running lost its coordinator or its finisher: back to the queue (recorded
  runs are kept) up to ``max_attempts`` tries, then failed as the platform's fault.
- ``_resend_waiting_submissions``: a **queued** submission that has waited that long on a
  prepared competition is sent again when the control queue is empty.
- ``_reap_preparations``: a **preparing** competition whose heartbeat went stale, with no chunk
  queued or running, is queued again (it resumes from the references it finished) up to
  ``max_attempts``, then fails.
- ``_reap_private_stages``: a **private stage** whose worker went quiet likewise.

Every change is a conditional UPDATE on the state that was read, so two reapers at once
act once.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import select, update

from core import state
from core.db import session_scope
from core.models import (
    PREPARED_STATUSES,
    ChunkKind,
    Competition,
    CompetitionStatus,
    FailureReason,
    PrivateStage,
    Submission,
    SubmissionStatus,
    WorkChunk,
    utcnow,
)
from core.queue import (
    CONTROL_QUEUE,
    enqueue_preparation,
    enqueue_private_stage,
    enqueue_scoring,
)
from core.settings import Settings
from worker.jobs.reap_chunks import (
    LOST_PREPARATION,
    LOST_WORKER,
    QueueDepths,
    active_chunks,
    forget_runs_under_way,
    reap_chunks,
)

log = logging.getLogger(__name__)


def _reap_private_stages(settings: Settings, cutoff: datetime, now: datetime) -> int:
    """A private stage (staged N) whose worker went quiet with no chunk left under way (its
    coordinator or finisher died): queued again, up to ``max_attempts``, then failed."""
    resend: list[int] = []
    with session_scope() as s:
        stale = s.execute(
            select(Submission.id, Submission.attempts, Submission.heartbeat_at).where(
                Submission.status == SubmissionStatus.SCORED,
                Submission.private_stage == PrivateStage.RUNNING,
                Submission.heartbeat_at < cutoff,
                ~active_chunks(ChunkKind.RUNS, WorkChunk.submission_id, Submission.id),
            )
        ).all()
        for sid, attempts, beat in stale:
            guard = [Submission.heartbeat_at == beat]
            if attempts + 1 < settings.max_attempts:
                if state.requeue_private_stage(
                    s, sid, guard=guard, attempts=attempts + 1, heartbeat_at=now
                ):
                    resend.append(sid)
            else:
                message = LOST_WORKER.format(n=attempts + 1)
                state.fail_private_stage(s, sid, message, guard=guard, attempts=attempts + 1)
    for sid in resend:
        enqueue_private_stage(sid)
    return len(resend)


def _reap_running_submissions(
    settings: Settings, cutoff: datetime, now: datetime, counts: dict[str, int]
) -> list[int]:
    """Running submissions whose coordinator or finisher went quiet with no chunk under way:
    queued again (recorded runs kept) up to ``max_attempts``, then failed as the platform's."""
    requeue: list[int] = []
    with session_scope() as s:
        stale = s.execute(
            select(Submission.id, Submission.attempts, Submission.heartbeat_at).where(
                Submission.status == SubmissionStatus.RUNNING,
                Submission.heartbeat_at < cutoff,
                ~active_chunks(ChunkKind.RUNS, WorkChunk.submission_id, Submission.id),
            )
        ).all()
        for sid, attempts, beat in stale:
            guard = [Submission.id == sid, Submission.heartbeat_at == beat]
            if attempts + 1 < settings.max_attempts:
                if state.requeue_submission(s, guard, attempts=attempts + 1, heartbeat_at=now):
                    forget_runs_under_way(s, sid)
                    requeue.append(sid)
                    counts["requeued"] += 1
            else:
                counts["failed"] += state.fail_submission(
                    s,
                    sid,
                    FailureReason.INFRASTRUCTURE,
                    LOST_WORKER.format(n=attempts + 1),
                    counts=False,
                    guard=guard[1:],
                    attempts=attempts + 1,
                )
    return requeue


def _resend_waiting_submissions(
    depths: QueueDepths, cutoff: datetime, now: datetime, counts: dict[str, int]
) -> list[int]:
    """Queued submissions that waited long on a prepared competition while the control
    queue is empty (their message was lost): sent again."""
    resend: list[int] = []
    with session_scope() as s:
        waiting = s.execute(
            select(Submission.id, Submission.heartbeat_at)
            .join(Competition, Competition.id == Submission.competition_id)
            .where(
                Submission.status == SubmissionStatus.QUEUED,
                Competition.status.in_(list(PREPARED_STATUSES)),
                Submission.created_at < cutoff,
            )
        ).all()
        if waiting and not depths.empty(CONTROL_QUEUE):
            return resend  # messages are waiting for a worker
        for sid, beat in waiting:
            if beat is not None and beat >= cutoff:
                continue
            cond = (
                Submission.heartbeat_at.is_(None)
                if beat is None
                else Submission.heartbeat_at == beat
            )
            if s.execute(
                update(Submission)
                .where(Submission.id == sid, Submission.status == SubmissionStatus.QUEUED, cond)
                .values(heartbeat_at=now)
            ).rowcount:
                resend.append(sid)
                counts["resent"] += 1
    return resend


def _reap_preparations(
    settings: Settings, cutoff: datetime, now: datetime, counts: dict[str, int]
) -> list[int]:
    """Preparations whose worker went quiet with no reference chunk under way: queued again
    (finished references are kept) up to ``max_attempts``, then failed."""
    prepare: list[int] = []
    with session_scope() as s:
        preparing = s.execute(
            select(
                Competition.id, Competition.preparation_attempts, Competition.heartbeat_at
            ).where(
                Competition.status == CompetitionStatus.PREPARING,
                Competition.heartbeat_at < cutoff,
                ~active_chunks(ChunkKind.REFERENCES, WorkChunk.competition_id, Competition.id),
            )
        ).all()
        for cid, attempts, beat in preparing:
            guard = [Competition.heartbeat_at == beat]
            if attempts + 1 >= settings.max_attempts:
                message = LOST_PREPARATION.format(n=attempts + 1)
                state.fail_preparation(
                    s, cid, message, guard=guard, preparation_attempts=attempts + 1
                )
            elif s.execute(
                update(Competition)
                .where(
                    Competition.id == cid,
                    Competition.status == CompetitionStatus.PREPARING,
                    *guard,
                )
                .values(preparation_attempts=attempts + 1, heartbeat_at=now)
            ).rowcount:
                prepare.append(cid)
                counts["preparations"] += 1
    return prepare


def reap(settings: Settings) -> dict[str, int]:
    """One pass over every case above; returns what it did, by case."""
    depths = QueueDepths()
    counts = {"requeued": 0, "failed": 0, "resent": 0, "preparations": 0}
    counts.update(reap_chunks(settings, depths))
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.stale_after_seconds)
    requeue = _reap_running_submissions(settings, cutoff, now, counts)
    requeue += _resend_waiting_submissions(depths, cutoff, now, counts)
    prepare = _reap_preparations(settings, cutoff, now, counts)
    for sid in requeue:
        enqueue_scoring(sid)
    for cid in prepare:
        enqueue_preparation(cid)
    counts["private_stages"] = _reap_private_stages(settings, cutoff, now)
    if any(counts.values()):
        log.warning("reaper: %s", counts)
    return counts


_stop = threading.Event()


def start_reaper(settings: Settings) -> threading.Thread:
    def loop() -> None:
        while not _stop.wait(settings.reaper_interval_seconds):
            try:
                reap(settings)
            except Exception:  # the database or broker may be restarting
                log.warning("reaper pass failed", exc_info=True)

    thread = threading.Thread(target=loop, name="reaper", daemon=True)
    thread.start()
    return thread


def stop_reaper() -> None:
    _stop.set()
