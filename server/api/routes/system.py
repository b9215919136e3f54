"""Health and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from server.api.deps import AppSettings, DbSession
from server.models import Submission
from server.schemas import Health
from server.services.health import broker_state, database_state, worker_states

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health)
def health(db: DbSession, settings: AppSettings, response: Response) -> Health:
    database = database_state(db)
    broker = broker_state(settings)
    workers = worker_states(db, settings) if database == "ok" else []
    ok = database == "ok" and broker.startswith("ok")
    if not ok:
        response.status_code = 503
    status = (
        "ok" if ok and any(w["alive"] for w in workers) else ("degraded" if ok else "unavailable")
    )
    return Health(status=status, database=database, broker=broker, workers=workers)


class _SubmissionCollector:
    def __init__(self, rows: list[tuple[str, int]]) -> None:
        self.rows = rows

    def collect(self):
        g = GaugeMetricFamily("arena_submissions", "Submissions by status", labels=["status"])
        for status, count in self.rows:
            g.add_metric([status], count)
        yield g


@router.get("/metrics", response_class=Response)
def metrics(db: DbSession) -> Response:
    rows = db.execute(
        select(Submission.status, func.count(Submission.id)).group_by(Submission.status)
    ).all()
    registry = CollectorRegistry()
    registry.register(_SubmissionCollector([(s, c) for s, c in rows]))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
