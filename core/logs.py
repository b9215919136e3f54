"""Logging with the ids of the work at hand: every record a job writes carries its
``submission_id``, ``run`` and ``competition_id`` (from context variables set with
:func:`bound`), as JSON fields (``ARENA_LOG_FORMAT=json``, for log shippers) or as a
``[submission=12 run=3]`` prefix (text, the default)."""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter

FIELDS = ("competition_id", "submission_id", "run")
_context: contextvars.ContextVar[tuple[tuple[str, object], ...]] = contextvars.ContextVar(
    "arena_log", default=()
)


@contextmanager
def bound(**ids: object) -> Iterator[None]:
    """Attach ids to every record logged inside the block (nested blocks add to them)."""
    token = _context.set(tuple({**dict(_context.get()), **ids}.items()))
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ids = dict(_context.get())
        for field in FIELDS:
            setattr(record, field, ids.get(field))
        joined = " ".join(f"{k.replace('_id', '')}={ids[k]}" for k in FIELDS if k in ids)
        record.ids = f"[{joined}] " if joined else ""
        return True


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(competition_id)s %(submission_id)s %(run)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(ids)s%(message)s")


def configure(fmt: str = "text", level: int = logging.INFO) -> None:
    """Root logging to stderr in ``fmt`` (text or json), with the id filter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
