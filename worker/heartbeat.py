"""Workers write a heartbeat row so that /health can say which workers are alive."""

from __future__ import annotations

import logging
import socket
import threading

from celery.signals import setup_logging, worker_ready

from core import logs
from core.db import session_scope
from core.models import WorkerHeartbeat, utcnow
from core.settings import get_settings
from worker import hardware
from worker.jobs.reap import start_reaper, stop_reaper

log = logging.getLogger(__name__)
_stop = threading.Event()


def _beat(hostname: str, hardware_class: str) -> None:
    with session_scope() as s:
        row = s.get(WorkerHeartbeat, hostname)
        if row is None:
            s.add(WorkerHeartbeat(hostname=hostname, hardware_class=hardware_class))
        else:
            row.last_seen = utcnow()
            row.hardware_class = hardware_class


def _loop(hostname: str, hardware_class: str, interval: float) -> None:
    while not _stop.is_set():
        try:
            _beat(hostname, hardware_class)
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
    threading.Thread(
        target=_loop, args=(hostname, hw, settings.heartbeat_seconds), daemon=True
    ).start()
    start_reaper(settings)
    _say_protections(settings)


def _say_protections(settings) -> None:
    """Which of the sandbox's protections are in force on this machine, once at start."""
    from worker.sandbox import cgroups
    from worker.sandbox.jail import SandboxUnavailable, detect

    try:
        detect(settings.sandbox_user)
        log.info("sandbox: bubblewrap jail, per-run namespaces and mounts, seccomp filters")
    except SandboxUnavailable as exc:
        log.warning("sandbox: NOT AVAILABLE (%s): participant code will not run here", exc)
    found = cgroups.detect()
    if found.version is None:
        log.warning("sandbox limits are weaker here: %s", found.protections)


def _stop_beats(**_: object) -> None:
    _stop.set()
    stop_reaper()
