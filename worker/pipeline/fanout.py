"""Fan-out of long work into chunks that any worker of the right hardware class can take.

A submission's N runs, and a competition's N reference models, are cut into chunks
(``execution.runs_per_chunk`` / ``references_per_chunk``). Each chunk is a row in
``work_chunks`` and a message on its hardware class's queue (``arena.run.<class>``):

- a worker **claims** a chunk atomically (queued → running); a duplicate message finds it
  claimed and does nothing;
- while it works, its heartbeat stamps the chunk; if the worker dies, the reaper puts the
  chunk back in the queue (its finished runs or references are kept, not redone);
- the worker that finishes the **last** chunk runs the final step (ε and the score, or the
  end of the preparation): a chord without a result backend, held together by the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update

from core import state
from core.db import session_scope
from core.models import (
    ChunkKind,
    ChunkStatus,
    WorkChunk,
    utcnow,
)
from core.queue import REFERENCE_CHUNK, RUN_CHUNK, enqueue_chunk
from worker.hardware import run_queue

TASK_OF_KIND = {ChunkKind.RUNS: RUN_CHUNK, ChunkKind.REFERENCES: REFERENCE_CHUNK}


@dataclass(frozen=True)
class Chunk:
    id: int
    kind: str
    competition_id: int
    submission_id: int | None
    start: int
    stop: int
    hardware_class: str
    attempts: int

    @property
    def indices(self) -> range:
        return range(self.start, self.stop)


def ranges(indices: list[int], size: int, first: int | None = None) -> list[tuple[int, int]]:
    """Cut sorted ``indices`` into [start, stop) ranges of at most ``size`` (the first one at
    most ``first``, when given), each contiguous."""
    out: list[tuple[int, int]] = []
    for i in indices:
        limit = first if first is not None and len(out) == 1 else size
        if out and out[-1][1] == i and out[-1][1] - out[-1][0] < limit:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def _owner(kind: str, competition_id: int, submission_id: int | None):
    cond = [WorkChunk.kind == kind, WorkChunk.competition_id == competition_id]
    if submission_id is None:
        cond.append(WorkChunk.submission_id.is_(None))
    else:
        cond.append(WorkChunk.submission_id == submission_id)
    return cond


def plan(
    kind: str,
    competition_id: int,
    submission_id: int | None,
    todo: list[int],
    size: int,
    hardware_class: str,
    first: int | None = None,
) -> list[int]:
    """Replace the owner's chunks by new ones covering ``todo`` (``size`` each, the first one
    ``first`` when given); returns their ids (unsent), in order.

    Chunks of an earlier attempt are deleted: a message still in a queue for one of them
    finds no row and does nothing.
    """
    with session_scope() as s:
        s.execute(delete(WorkChunk).where(*_owner(kind, competition_id, submission_id)))
        rows = [
            WorkChunk(
                kind=kind,
                competition_id=competition_id,
                submission_id=submission_id,
                start=a,
                stop=b,
                hardware_class=hardware_class,
                status=state.initial(WorkChunk),
            )
            for a, b in ranges(sorted(todo), size, first)
        ]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def release_held(kind: str, competition_id: int, submission_id: int | None) -> list[int]:
    """The owner's chunks held back until its first chunk passed (fail fast): mark them sent
    (atomically, so that two finishers release them once) and return their ids."""
    with session_scope() as s:
        ids = s.scalars(
            select(WorkChunk.id).where(
                *_owner(kind, competition_id, submission_id),
                WorkChunk.status == ChunkStatus.QUEUED,
                WorkChunk.sent_at.is_(None),
            )
        ).all()
        released = [
            cid
            for cid in ids
            if s.execute(
                update(WorkChunk)
                .where(WorkChunk.id == cid, WorkChunk.sent_at.is_(None))
                .values(sent_at=utcnow())
            ).rowcount
        ]
    return released


def add_device_seconds(chunk_id: int, seconds: float) -> None:
    with session_scope() as s:
        s.execute(
            update(WorkChunk)
            .where(WorkChunk.id == chunk_id)
            .values(device_seconds=func.coalesce(WorkChunk.device_seconds, 0.0) + seconds)
        )


def send(chunk_ids: list[int]) -> int:
    """Put the chunks on their class's queue; returns how many messages went out. One that
    could not be sent stays queued in the database and the reaper sends it again."""
    with session_scope() as s:
        rows = s.execute(
            select(WorkChunk.id, WorkChunk.kind, WorkChunk.hardware_class).where(
                WorkChunk.id.in_(chunk_ids)
            )
        ).all()
        s.execute(update(WorkChunk).where(WorkChunk.id.in_(chunk_ids)).values(sent_at=utcnow()))
    return sum(enqueue_chunk(TASK_OF_KIND[kind], cid, run_queue(hw)) for cid, kind, hw in rows)


def claim(chunk_id: int, worker: str | None) -> Chunk | None:
    """Take a queued chunk (queued → running); None if it is gone or someone has it."""
    with session_scope() as s:
        if not state.claim_chunk(s, chunk_id, worker):
            return None
        row = s.get(WorkChunk, chunk_id)
        return Chunk(
            row.id,
            row.kind,
            row.competition_id,
            row.submission_id,
            row.start,
            row.stop,
            row.hardware_class,
            row.attempts,
        )


def _mine(chunk_id: int, worker: str | None, *, running: bool = True):
    return (
        WorkChunk.id == chunk_id,
        *((WorkChunk.status == ChunkStatus.RUNNING,) if running else ()),
        WorkChunk.worker == ((worker or "")[:255] or None)
        if worker
        else WorkChunk.worker.is_(None),
    )


def finish(chunk_id: int, worker: str | None, status: ChunkStatus) -> bool:
    """Mark this worker's running chunk done, failed or abandoned; False if it was no longer
    its own (the reaper gave it to another worker, or a new attempt replaced it)."""
    with session_scope() as s:
        return state.finish_chunk(s, _mine(chunk_id, worker, running=False), status)


def unfinished(kind: str, competition_id: int, submission_id: int | None) -> int:
    """Chunks of this owner that are not done (queued, running, failed or abandoned)."""
    with session_scope() as s:
        return s.scalar(
            select(func.count())
            .select_from(WorkChunk)
            .where(
                *_owner(kind, competition_id, submission_id),
                WorkChunk.status != ChunkStatus.DONE,
            )
        )


def abandon(kind: str, competition_id: int, submission_id: int | None) -> int:
    """Stop the owner's queued and running chunks (their submission or preparation ended):
    queued ones are never started, running ones stop at their next check."""
    with session_scope() as s:
        return state.abandon_chunks(s, _owner(kind, competition_id, submission_id))


def still_mine(chunk_id: int, worker: str | None) -> bool:
    """True while this worker's chunk is running (not abandoned, not handed to another)."""
    with session_scope() as s:
        return (
            s.scalar(select(func.count()).select_from(WorkChunk).where(*_mine(chunk_id, worker)))
            == 1
        )
