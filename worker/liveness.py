"""Heartbeats of work in progress: while a submission is scored, a chunk of runs or references
is worked on, or a competition prepared, a thread stamps the rows' ``heartbeat_at`` every
``heartbeat_seconds``. A worker that dies (SIGKILL, machine gone) stops stamping, and the
reaper (``worker/jobs/reap.py``) requeues its work."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import update

from core.db import session_scope
from core.models import Competition, Submission, WorkChunk, utcnow

log = logging.getLogger(__name__)

Beating = type[Submission] | type[Competition] | type[WorkChunk]


def stamp(*targets: tuple[Beating, int]) -> None:
    with session_scope() as s:
        now = utcnow()
        for model, row_id in targets:
            s.execute(update(model).where(model.id == row_id).values(heartbeat_at=now))


@contextmanager
def beating(
    model: Beating, row_id: int, interval: float, *more: tuple[Beating, int]
) -> Iterator[None]:
    """Stamp ``model`` row ``row_id`` (and the ``more`` rows) until the block ends."""
    targets = ((model, row_id), *more)
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                stamp(*targets)
            except Exception:  # the database may be restarting: the next beat retries
                log.warning("heartbeat of %s %s failed", model.__name__, row_id, exc_info=True)

    stamp(*targets)
    thread = threading.Thread(target=loop, name=f"beat-{model.__name__}-{row_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 5)
