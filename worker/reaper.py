"""The reaper: nothing stays stuck. Any worker runs it every ``reaper_interval_seconds``
(and `arena reap` runs it once).

- A **running** submission whose heartbeat is older than ``stale_after_seconds`` lost its
  worker: it goes back to the queue (runs already recorded are kept and not rerun) up to
  ``max_attempts`` tries, then fails with an infrastructure reason that does not count
  against the participant's quota.
- A **queued** submission that has waited that long on a prepared competition is sent
  again (its message may have been lost with a broker restart; a duplicate is harmless, the
  claim is atomic).
- A **preparing** competition whose heartbeat went stale is queued again (preparation
  resumes from the references it finished) up to ``max_attempts``, then fails.

Every change is a conditional UPDATE on the state that was read, so two reapers at once
act once.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import delete, select, update

from server.db import session_scope
from server.models import (
    PREPARED_STATUSES,
    Competition,
    CompetitionStatus,
    FailureReason,
    Run,
    RunStatus,
    Submission,
    SubmissionStatus,
    utcnow,
)
from server.queue import enqueue_preparation, enqueue_scoring
from server.settings import Settings

log = logging.getLogger(__name__)

LOST_WORKER = (
    "The workers scoring this submission stopped answering {n} times (a machine failure, not your "
    "code's). It does not count against your quota; please submit again later."
)


def reap(settings: Settings) -> dict[str, int]:
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.stale_after_seconds)
    counts = {"requeued": 0, "failed": 0, "resent": 0, "preparations": 0}
    requeue: list[int] = []
    with session_scope() as s:
        stale = s.execute(
            select(Submission.id, Submission.attempts, Submission.heartbeat_at).where(
                Submission.status == SubmissionStatus.RUNNING,
                Submission.heartbeat_at < cutoff,
            )
        ).all()
        for sid, attempts, beat in stale:
            guard = (
                Submission.id == sid,
                Submission.status == SubmissionStatus.RUNNING,
                Submission.heartbeat_at == beat,
            )
            if attempts + 1 < settings.max_attempts:
                done = s.execute(
                    update(Submission)
                    .where(*guard)
                    .values(status=SubmissionStatus.QUEUED, attempts=attempts + 1, heartbeat_at=now)
                ).rowcount
                if done:
                    s.execute(
                        delete(Run).where(Run.submission_id == sid, Run.status == RunStatus.RUNNING)
                    )
                    requeue.append(sid)
                    counts["requeued"] += 1
            else:
                done = s.execute(
                    update(Submission)
                    .where(*guard)
                    .values(
                        status=SubmissionStatus.FAILED,
                        attempts=attempts + 1,
                        failure_reason=FailureReason.INFRASTRUCTURE,
                        failure_message=LOST_WORKER.format(n=attempts + 1),
                        counts_against_quota=False,
                        finished_at=now,
                    )
                ).rowcount
                counts["failed"] += done
        waiting = s.execute(
            select(Submission.id, Submission.heartbeat_at, Submission.created_at)
            .join(Competition, Competition.id == Submission.competition_id)
            .where(
                Submission.status == SubmissionStatus.QUEUED,
                Competition.status.in_(list(PREPARED_STATUSES)),
                Submission.created_at < cutoff,
            )
        ).all()
        for sid, beat, _created in waiting:
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
                requeue.append(sid)
                counts["resent"] += 1
        preparing = s.execute(
            select(
                Competition.id, Competition.preparation_attempts, Competition.heartbeat_at
            ).where(
                Competition.status == CompetitionStatus.PREPARING,
                Competition.heartbeat_at < cutoff,
            )
        ).all()
        prepare: list[int] = []
        for cid, attempts, beat in preparing:
            guard = (
                Competition.id == cid,
                Competition.status == CompetitionStatus.PREPARING,
                Competition.heartbeat_at == beat,
            )
            if attempts + 1 < settings.max_attempts:
                if s.execute(
                    update(Competition)
                    .where(*guard)
                    .values(preparation_attempts=attempts + 1, heartbeat_at=now)
                ).rowcount:
                    prepare.append(cid)
                    counts["preparations"] += 1
            else:
                s.execute(
                    update(Competition)
                    .where(*guard)
                    .values(
                        status=CompetitionStatus.FAILED,
                        preparation_attempts=attempts + 1,
                        status_message=(
                            f"Preparation stopped answering {attempts + 1} times (worker lost). "
                            "Finished references are kept; prepare again to resume."
                        ),
                    )
                )
    for sid in requeue:
        enqueue_scoring(sid)
    for cid in prepare:
        enqueue_preparation(cid)
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
