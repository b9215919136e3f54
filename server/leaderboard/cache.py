"""A short-lived cache of built leaderboards (``ARENA_LEADERBOARD_CACHE_SECONDS``, default 5).

A board costs a query over the competition's scored submissions and a bootstrap per shown
row; popular boards are read far more often than they change. Entries are keyed by every
input of the board (competition, scoring version, board, part, sort, page, whether the viewer
organizes it); at expiry one request rebuilds while the others are served the previous board
(no stampede). Changes made through this process (scores, picks, disqualifications,
rescoring) invalidate the competition's entries at once; other processes see them within
the TTL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class BoardCache:
    def __init__(self) -> None:
        self._data: dict[Hashable, tuple[float, object]] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self._owners: dict[Hashable, int] = {}

    def _lock(self, key: Hashable) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: Hashable, ttl: float, compute: Callable[[], T]) -> T:
        if ttl <= 0:
            return compute()
        entry = self._data.get(key)
        if entry is not None and time.monotonic() - entry[0] < ttl:
            return entry[1]  # type: ignore[return-value]
        lock = self._lock(key)
        if entry is not None and not lock.acquire(blocking=False):
            return entry[1]  # another request is rebuilding it: serve the previous board
        if entry is None:
            lock.acquire()
        try:
            entry = self._data.get(key)
            if entry is not None and time.monotonic() - entry[0] < ttl:
                return entry[1]  # type: ignore[return-value]
            value = compute()
            self._data[key] = (time.monotonic(), value)
            return value
        finally:
            lock.release()

    def peek(self, key: Hashable, ttl: float) -> object | None:
        """The cached value if fresh, else None (never computes)."""
        entry = self._data.get(key)
        if ttl > 0 and entry is not None and time.monotonic() - entry[0] < ttl:
            return entry[1]
        return None

    def stale(self, key: Hashable) -> object | None:
        """The cached value however old (None if absent)."""
        entry = self._data.get(key)
        return None if entry is None else entry[1]

    def refresh_in_background(self, key: Hashable, refresh: Callable[[], None]) -> bool:
        """Run ``refresh`` in a thread unless one is already refreshing ``key``."""
        lock = self._lock(("refresh", key))
        if not lock.acquire(blocking=False):
            return False

        def run() -> None:
            try:
                refresh()
            finally:
                lock.release()

        threading.Thread(target=run, name="board-refresh", daemon=True).start()
        return True

    def put(self, key: Hashable, value: object, competition_id: int) -> None:
        """Store ``value``; :meth:`invalidate` of ``competition_id`` drops it."""
        with self._guard:
            self._data[key] = (time.monotonic(), value)
            self._owners[key] = competition_id

    def invalidate(self, competition_id: int) -> None:
        """Drop every entry of a competition (keys start with its id, or were put for it)."""
        with self._guard:
            for key in list(self._data):
                owner = self._owners.get(key)
                if owner is None and isinstance(key, tuple) and key:
                    owner = key[0]
                if owner == competition_id:
                    self._data.pop(key, None)
                    self._owners.pop(key, None)

    def clear(self) -> None:
        with self._guard:
            self._data.clear()
            self._owners.clear()


boards = BoardCache()
