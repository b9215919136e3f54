"""Heartbeats of work in progress: while a submission is scored or a competition prepared, a
thread stamps its row's ``heartbeat_at`` every ``heartbeat_seconds``. A worker that dies
(SIGKILL, machine gone) stops stamping, and the reaper (``worker/reaper.py``) requeues it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import update

from server.db import session_scope
from server.models import Competition, Submission, utcnow

log = logging.getLogger(__name__)


def stamp(model: type[Submission] | type[Competition], row_id: int) -> None:
    with session_scope() as s:
        s.execute(update(model).where(model.id == row_id).values(heartbeat_at=utcnow()))


@contextmanager
def beating(
    model: type[Submission] | type[Competition], row_id: int, interval: float
) -> Iterator[None]:
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                stamp(model, row_id)
            except Exception:  # the database may be restarting: the next beat retries
                log.warning("heartbeat of %s %s failed", model.__name__, row_id, exc_info=True)

    stamp(model, row_id)
    thread = threading.Thread(target=loop, name=f"beat-{model.__name__}-{row_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 5)
