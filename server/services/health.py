"""Liveness of the database, the broker and the workers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.models import WorkerHeartbeat, utcnow
from core.queue import broker_app
from core.settings import Settings


def database_state(session: Session) -> str:
    try:
        session.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return f"unavailable: {type(exc).__name__}"


def broker_state(settings: Settings) -> str:
    if settings.embedded_broker:
        return (
            "ok (embedded)"
            if (settings.broker_dir / "queue").is_dir()
            else "unavailable: broker folder missing"
        )
    try:
        with broker_app().connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return f"unavailable: {type(exc).__name__}"


def worker_states(session: Session, settings: Settings) -> list[dict]:
    try:
        rows = session.scalars(select(WorkerHeartbeat)).all()
    except Exception:  # noqa: BLE001
        return []
    fresh = utcnow() - timedelta(seconds=3 * settings.heartbeat_seconds)
    return [
        {
            "hostname": r.hostname,
            "hardware_class": r.hardware_class,
            "last_seen": r.last_seen.isoformat(),
            "alive": r.last_seen >= fresh,
            # a worker whose sandbox is not ready takes no work (worker.sandbox.readiness)
            "takes_work": takes_work(r.sandbox),
            "sandbox": r.sandbox,
        }
        for r in rows
        if r.last_seen >= utcnow() - timedelta(hours=1)
    ]


def takes_work(sandbox: dict | None) -> bool:
    """From a heartbeat's sandbox report (None: a worker from before reports: it takes work)."""
    return sandbox is None or bool(sandbox.get("ready") or sandbox.get("unconfined"))
