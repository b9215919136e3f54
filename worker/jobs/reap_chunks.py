"""The reaper's part for fanned-out work (``worker/pipeline/fanout.py``): chunks whose worker
went quiet, chunk messages a broker lost, and the owners of chunks lost on every attempt."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update

from core import state
from core.db import session_scope
from core.models import (
    ACTIVE_CHUNK_STATUSES,
    ChunkKind,
    ChunkStatus,
    FailureReason,
    Run,
    RunStatus,
    WorkChunk,
    utcnow,
)
from core.queue import (
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
LOST_PREPARATION = (
    "Preparation stopped answering {n} times (worker lost). Finished references are kept; "
    "prepare again to resume."
)
LOST_WORKER = (
    "The workers scoring this submission stopped answering {n} times (a machine failure, not your "
    "code's). It does not count against your quota; please submit again later."
)


def active_chunks(kind: str, owner_column, owner):
    return exists().where(
        WorkChunk.kind == kind,
        owner_column == owner,
        WorkChunk.status.in_(list(ACTIVE_CHUNK_STATUSES)),
    )


class QueueDepths:
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


def reap_chunks(settings: Settings, depths: QueueDepths | None = None) -> dict[str, int]:
    """Requeue the chunks of dead workers, resend lost chunk messages, fail the hopeless."""
    depths = depths or QueueDepths()
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.stale_after_seconds)
    counts = {"chunks_requeued": 0, "chunks_resent": 0, "chunks_failed": 0}
    send, lost = _stale_chunks(settings, cutoff, counts)
    send += _lost_chunk_messages(depths, cutoff, now, counts)
    _fail_owners_of_lost_chunks(lost, now)
    if send:
        fanout.send(send)  # stamps sent_at
    return counts


_LostChunks = list[tuple[str, int, int | None, int]]  # (kind, competition, submission, tries)


def _stale_chunks(
    settings: Settings, cutoff: datetime, counts: dict[str, int]
) -> tuple[list[int], _LostChunks]:
    """Running chunks whose worker went quiet: back to their queue (their runs under way
    forgotten), or failed after ``max_attempts``; returns (to send, failed owners)."""
    send: list[int] = []
    lost: _LostChunks = []
    with session_scope() as s:
        stale = s.scalars(
            select(WorkChunk).where(
                WorkChunk.status == ChunkStatus.RUNNING, WorkChunk.heartbeat_at < cutoff
            )
        ).all()
        for chunk in stale:
            tries = chunk.attempts + 1  # read before the UPDATE refreshes the object
            guard = [WorkChunk.id == chunk.id, WorkChunk.heartbeat_at == chunk.heartbeat_at]
            if tries < settings.max_attempts:
                if state.requeue_chunk(s, guard, attempts=tries):
                    if chunk.kind == ChunkKind.RUNS:
                        forget_runs_under_way(s, chunk.submission_id, chunk.start, chunk.stop)
                    send.append(chunk.id)
                    counts["chunks_requeued"] += 1
            elif state.fail_chunk(s, guard, attempts=tries):
                counts["chunks_failed"] += 1
                lost.append((chunk.kind, chunk.competition_id, chunk.submission_id, tries))
    return send, lost


def forget_runs_under_way(s, submission_id: int, start: int = 0, stop: int | None = None) -> None:
    """Runs that were under way on a lost worker are run again from scratch."""
    where = [
        Run.submission_id == submission_id,
        Run.status == RunStatus.RUNNING,
        Run.index >= start,
    ]
    if stop is not None:
        where.append(Run.index < stop)
    s.execute(delete(Run).where(*where))


def _lost_chunk_messages(
    depths: QueueDepths, cutoff: datetime, now: datetime, counts: dict[str, int]
) -> list[int]:
    """Queued chunks sent long ago whose queue is empty (a broker restart lost them), and
    held-back chunks that nobody will release: sent again."""
    with session_scope() as s:
        waiting = s.execute(
            select(WorkChunk.id, WorkChunk.hardware_class, WorkChunk.sent_at).where(
                WorkChunk.status == ChunkStatus.QUEUED, WorkChunk.sent_at < cutoff
            )
        ).all()
        waiting += _orphans(s, cutoff)
    send: list[int] = []
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
    return send


def _fail_owners_of_lost_chunks(lost: _LostChunks, now: datetime) -> None:
    """A chunk lost on every attempt: its submission crashed (it counts: the machine stopped
    answering while the participant's code ran), or its preparation failed (resumable)."""
    with session_scope() as s:
        for kind, cid, sid, tries in lost:
            message = LOST_RUNNING_YOUR_CODE.format(n=tries)
            if kind == ChunkKind.RUNS:
                state.fail_submission(s, sid, FailureReason.CRASHED, message, counts=True)
                state.fail_private_stage(s, sid, message)  # a final pick: its public score stands
            else:
                state.fail_preparation(s, cid, LOST_PREPARATION.format(n=tries))
    for kind, cid, sid, _ in lost:
        fanout.abandon(kind, cid, sid if kind == ChunkKind.RUNS else None)
