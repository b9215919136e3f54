"""The reaper: nothing stays stuck. Any worker runs it every ``reaper_interval_seconds``
(and `arena reap` runs it once).

- A **running chunk** (runs or references, ``worker/pipeline/fanout.py``) whose heartbeat is older
  than ``stale_after_seconds`` lost its worker: it goes back to its class's queue (runs and
  references already recorded are kept, not redone) up to ``max_attempts`` tries; then its
  submission fails with an infrastructure reason that does not count against the
  participant's quota (a preparation fails, resumable).
- A **queued chunk** sent that long ago, whose queue holds no message (it was lost with a
  broker restart), is sent again; a duplicate is harmless, the claim is atomic.
- A **running** submission whose heartbeat is stale and that has no chunk queued or running
  lost its coordinator or its finisher: it goes back to the queue (recorded runs are kept)
  up to ``max_attempts`` tries, then fails as the platform's fault.
- A **queued** submission that has waited that long on a prepared competition is sent
  again, likewise when the control queue is empty.
- A **preparing** competition whose heartbeat went stale, with no chunk queued or running,
  is queued again (preparation resumes from the references it finished) up to
  ``max_attempts``, then fails.

Every change is a conditional UPDATE on the state that was read, so two reapers at once
act once.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import and_, delete, exists, select, update

from core.db import session_scope
from core.models import (
    ACTIVE_CHUNK_STATUSES,
    PREPARED_STATUSES,
    ChunkKind,
    ChunkStatus,
    Competition,
    CompetitionStatus,
    FailureReason,
    PrivateStage,
    Run,
    RunStatus,
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
    queue_depth,
)
from core.settings import Settings
from worker.hardware import run_queue
from worker.pipeline import fanout

log = logging.getLogger(__name__)

LOST_RUNNING_YOUR_CODE = (
    "The worker running this submission's code was lost on each of its {n} attempts (the "
    "machine stopped answering while your unlearning() ran: for example it exhausted the "
    "machine's memory). This counts against your quota."
)
LOST_WORKER = (
    "The workers scoring this submission stopped answering {n} times (a machine failure, not your "
    "code's). It does not count against your quota; please submit again later."
)


def _active_chunks(kind: str, owner_column, owner):
    return exists().where(
        WorkChunk.kind == kind,
        owner_column == owner,
        WorkChunk.status.in_(list(ACTIVE_CHUNK_STATUSES)),
    )


class _Depths:
    """Queue depths, asked of the broker once per queue per pass."""

    def __init__(self) -> None:
        self._known: dict[str, int | None] = {}

    def empty(self, queue: str) -> bool:
        """True when the queue holds nothing, or the broker cannot say (then resend: a
        duplicate costs a no-op claim, a lost message costs a stuck submission)."""
        if queue not in self._known:
            self._known[queue] = queue_depth(queue)
        depth = self._known[queue]
        return depth is None or depth == 0


def _orphans(s, cutoff) -> list[tuple[int, str, None]]:
    """Held-back chunks (never sent, fail fast) whose owner has no sent chunk left to release
    them: the coordinator died between planning and sending. The first of each is sent."""
    sibling = WorkChunk.__table__.alias("sibling")
    rows = s.execute(
        select(
            WorkChunk.id,
            WorkChunk.hardware_class,
            WorkChunk.kind,
            WorkChunk.competition_id,
            WorkChunk.submission_id,
        )
        .where(
            WorkChunk.status == ChunkStatus.QUEUED,
            WorkChunk.sent_at.is_(None),
            WorkChunk.created_at < cutoff,
            ~exists().where(
                sibling.c.kind == WorkChunk.kind,
                sibling.c.competition_id == WorkChunk.competition_id,
                (sibling.c.submission_id == WorkChunk.submission_id)
                | (sibling.c.submission_id.is_(None) & WorkChunk.submission_id.is_(None)),
                sibling.c.status.in_(list(ACTIVE_CHUNK_STATUSES)),
                sibling.c.sent_at.is_not(None),
            ),
        )
        .order_by(WorkChunk.start)
    ).all()
    first: dict[tuple, tuple[int, str, None]] = {}
    for cid, hw, kind, comp, sub in rows:
        first.setdefault((kind, comp, sub), (cid, hw, None))
    return list(first.values())


def reap_chunks(settings: Settings, depths: _Depths | None = None) -> dict[str, int]:
    """Requeue the chunks of dead workers, resend lost chunk messages, fail the hopeless."""
    depths = depths or _Depths()
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.stale_after_seconds)
    counts = {"chunks_requeued": 0, "chunks_resent": 0, "chunks_failed": 0}
    send: list[int] = []
    lost_submissions: list[tuple[int, int]] = []
    lost_preparations: list[tuple[int, int]] = []
    with session_scope() as s:
        stale = (
            s.execute(
                select(WorkChunk).where(
                    WorkChunk.status == ChunkStatus.RUNNING, WorkChunk.heartbeat_at < cutoff
                )
            )
            .scalars()
            .all()
        )
        for chunk in stale:
            tries = chunk.attempts + 1  # read before the UPDATE refreshes the object
            guard = (
                WorkChunk.id == chunk.id,
                WorkChunk.status == ChunkStatus.RUNNING,
                WorkChunk.heartbeat_at == chunk.heartbeat_at,
            )
            if chunk.attempts + 1 < settings.max_attempts:
                if s.execute(
                    update(WorkChunk)
                    .where(*guard)
                    .values(
                        status=ChunkStatus.QUEUED,
                        attempts=chunk.attempts + 1,
                        worker=None,
                        heartbeat_at=None,
                    )
                ).rowcount:
                    if chunk.kind == ChunkKind.RUNS:
                        s.execute(
                            delete(Run).where(
                                Run.submission_id == chunk.submission_id,
                                Run.index >= chunk.start,
                                Run.index < chunk.stop,
                                Run.status == RunStatus.RUNNING,
                            )
                        )
                    send.append(chunk.id)
                    counts["chunks_requeued"] += 1
            elif s.execute(
                update(WorkChunk)
                .where(*guard)
                .values(status=ChunkStatus.FAILED, finished_at=now, attempts=chunk.attempts + 1)
            ).rowcount:
                counts["chunks_failed"] += 1
                if chunk.kind == ChunkKind.RUNS:
                    lost_submissions.append((chunk.submission_id, tries))
                else:
                    lost_preparations.append((chunk.competition_id, tries))
        waiting = s.execute(
            select(WorkChunk.id, WorkChunk.hardware_class, WorkChunk.sent_at).where(
                WorkChunk.status == ChunkStatus.QUEUED, WorkChunk.sent_at < cutoff
            )
        ).all()
        waiting += _orphans(s, cutoff)
    for chunk_id, hw, sent_at in waiting:
        if sent_at is not None and not depths.empty(run_queue(hw)):
            continue  # messages are waiting for a worker: ours is probably among them
        with session_scope() as s:
            cond = WorkChunk.sent_at.is_(None) if sent_at is None else WorkChunk.sent_at == sent_at
            if s.execute(
                update(WorkChunk)
                .where(WorkChunk.id == chunk_id, WorkChunk.status == ChunkStatus.QUEUED, cond)
                .values(sent_at=now)
            ).rowcount:
                send.append(chunk_id)
                counts["chunks_resent"] += 1
    with session_scope() as s:
        for sid, attempts in lost_submissions:
            s.execute(
                update(Submission)
                .where(Submission.id == sid, Submission.status == SubmissionStatus.RUNNING)
                .values(
                    status=SubmissionStatus.FAILED,
                    failure_reason=FailureReason.CRASHED,
                    failure_message=LOST_RUNNING_YOUR_CODE.format(n=attempts),
                    counts_against_quota=True,
                    finished_at=now,
                )
            )
            s.execute(  # a final pick's private stage: its public score stands
                update(Submission)
                .where(Submission.id == sid, Submission.private_stage == PrivateStage.RUNNING)
                .values(
                    private_stage=PrivateStage.FAILED,
                    private_stage_message=LOST_RUNNING_YOUR_CODE.format(n=attempts),
                )
            )
        for cid, attempts in lost_preparations:
            s.execute(
                update(Competition)
                .where(Competition.id == cid, Competition.status == CompetitionStatus.PREPARING)
                .values(
                    status=CompetitionStatus.FAILED,
                    status_message=(
                        f"Preparation stopped answering {attempts} times (worker lost). "
                        "Finished references are kept; prepare again to resume."
                    ),
                )
            )
    for sid, _ in lost_submissions:
        with session_scope() as s:
            comp_id = s.scalar(select(Submission.competition_id).where(Submission.id == sid))
        fanout.abandon(ChunkKind.RUNS, comp_id, sid)
    for cid, _ in lost_preparations:
        fanout.abandon(ChunkKind.REFERENCES, cid, None)
    if send:
        fanout.send(send)  # stamps sent_at
    return counts


def _reap_private_stages(settings: Settings, cutoff, now) -> int:
    """A private stage (staged N) whose worker went quiet with no chunk left under way (its
    coordinator or finisher died): queued again, up to ``max_attempts``, then failed."""
    resend: list[int] = []
    with session_scope() as s:
        stale = s.execute(
            select(Submission.id, Submission.attempts, Submission.heartbeat_at).where(
                Submission.status == SubmissionStatus.SCORED,
                Submission.private_stage == PrivateStage.RUNNING,
                Submission.heartbeat_at < cutoff,
                ~_active_chunks(ChunkKind.RUNS, WorkChunk.submission_id, Submission.id),
            )
        ).all()
        for sid, attempts, beat in stale:
            guard = (
                Submission.id == sid,
                Submission.private_stage == PrivateStage.RUNNING,
                Submission.heartbeat_at == beat,
            )
            retry = attempts + 1 < settings.max_attempts
            values = (
                {
                    "private_stage": PrivateStage.QUEUED,
                    "attempts": attempts + 1,
                    "heartbeat_at": now,
                }
                if retry
                else {
                    "private_stage": PrivateStage.FAILED,
                    "attempts": attempts + 1,
                    "private_stage_message": LOST_WORKER.format(n=attempts + 1),
                }
            )
            if s.execute(update(Submission).where(*guard).values(**values)).rowcount and retry:
                resend.append(sid)
    for sid in resend:
        enqueue_private_stage(sid)
    return len(resend)


def reap(settings: Settings) -> dict[str, int]:
    depths = _Depths()
    counts = {"requeued": 0, "failed": 0, "resent": 0, "preparations": 0}
    counts.update(reap_chunks(settings, depths))
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.stale_after_seconds)
    requeue: list[int] = []
    with session_scope() as s:
        stale = s.execute(
            select(Submission.id, Submission.attempts, Submission.heartbeat_at).where(
                Submission.status == SubmissionStatus.RUNNING,
                Submission.heartbeat_at < cutoff,
                ~_active_chunks(ChunkKind.RUNS, WorkChunk.submission_id, Submission.id),
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
        control_empty = depths.empty(CONTROL_QUEUE) if waiting else True
        for sid, beat, _created in waiting:
            if beat is not None and beat >= cutoff:
                continue
            if not control_empty:
                break  # messages are waiting for a worker
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
                ~exists().where(
                    and_(
                        WorkChunk.kind == ChunkKind.REFERENCES,
                        WorkChunk.competition_id == Competition.id,
                        WorkChunk.status.in_(list(ACTIVE_CHUNK_STATUSES)),
                    )
                ),
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
