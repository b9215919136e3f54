"""Rebuilding an expired public board in a separate process.

An anonymous public board is served from memory (``hot.py``); when it expires,
the last one is still served while a fresh one is built. Built in a thread, that build (about
0.1 s of Python for thousands of entrants) would hold the interpreter lock in slices and delay
every request the event loop answers meanwhile; built here, in one spawned process with its own
database connection, it only shares the cores. A build that fails here (or a pool that cannot
start) falls back to the thread.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger(__name__)
_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def _child_init() -> None:
    from core.settings import get_settings

    get_settings().leaderboard_cache_seconds = 0  # the parent caches; the child always builds


def build_public_board(
    slug: str, phase: str | None, sort: str, page: int, per_page: int
) -> tuple[bytes, int]:
    """The anonymous public board's JSON and the competition id (runs in the child)."""
    from core.db import get_sessionmaker
    from server.leaderboard.board import leaderboard_json
    from server.services import competitions

    session = get_sessionmaker()()
    try:
        comp = competitions.get_visible(session, slug, None)
        body = leaderboard_json(
            session, comp, phase, "public", None, sort=sort, page=page, per_page=per_page
        )
        return body, comp.id
    finally:
        session.close()


def pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_child_init,
            )
        return _pool


def rebuild(slug: str, phase: str | None, sort: str, page: int, per_page: int) -> tuple[bytes, int]:
    """Build in the child process; on any failure there, start a new pool next time and raise."""
    global _pool
    try:
        return pool().submit(build_public_board, slug, phase, sort, page, per_page).result(60)
    except Exception:
        with _lock:
            broken, _pool = _pool, None
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)
        raise
