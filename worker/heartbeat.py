"""Workers write a heartbeat row so that /health can say which workers are alive."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from celery.signals import setup_logging, worker_ready

from core import logs
from core.db import session_scope
from core.environment import environment_packages
from core.models import WorkerHeartbeat, utcnow
from core.settings import get_settings
from worker import hardware
from worker.jobs.reap import start_reaper, stop_reaper
from worker.sandbox import readiness

log = logging.getLogger(__name__)
_stop = threading.Event()


def _beat(hostname: str, hardware_class: str, found: dict[str, Any]) -> None:
    """One heartbeat; ``found`` (the sandbox's report, the packages) is written with it."""
    with session_scope() as s:
        row = s.get(WorkerHeartbeat, hostname)
        if row is None:
            s.add(WorkerHeartbeat(hostname=hostname, hardware_class=hardware_class, **found))
        else:
            row.last_seen = utcnow()
            row.hardware_class = hardware_class
            for key, value in found.items():
                if getattr(row, key) != value:
                    setattr(row, key, value)


def _loop(hostname: str, hardware_class: str, interval: float, found: dict[str, Any]) -> None:
    while not _stop.is_set():
        try:
            _beat(hostname, hardware_class, found)
        except Exception:  # the database may be restarting; try again next beat
            log.warning("heartbeat failed", exc_info=True)
        _stop.wait(interval)


@setup_logging.connect
def _logging(**_: object) -> None:
    """Replace Celery's logging: ours carries submission and run ids (ARENA_LOG_FORMAT)."""
    logs.configure(get_settings().log_format)


@worker_ready.connect
def _start(sender=None, **_: object) -> None:
    settings = get_settings()
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    hw = hardware.worker_class(settings)
    report = readiness.at_start(
        settings.sandbox_user, settings.unsafe_no_sandbox, settings.worker_threads
    )
    found = {"sandbox": report.as_dict(), "packages": environment_packages()}
    threading.Thread(
        target=_loop, args=(hostname, hw, settings.heartbeat_seconds, found), daemon=True
    ).start()
    if readiness.takes_work(report):
        start_reaper(settings)


def _stop_beats(**_: object) -> None:
    _stop.set()
    stop_reaper()
