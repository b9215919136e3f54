"""Health and metrics.

``/metrics`` is for everyone, but anonymously it shows counts only: no sum of run times or of
device time, which would tell the last run's time past its published precision (0.1 s) by
difference between two scrapes. An admin's token (``Authorization: Bearer …``, as Prometheus
sends it) adds the sums.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Sample,
)
from sqlalchemy import case, func, select

from core.models import (
    ChunkStatus,
    Competition,
    Role,
    Run,
    RunStatus,
    Submission,
    SubmissionStatus,
    User,
    WorkChunk,
)
from server.api.deps import AppSettings, DbSession, OptionalUser
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
    working = any(w["alive"] and w["takes_work"] for w in workers)
    status = "ok" if ok and working else ("degraded" if ok else "unavailable")
    return Health(status=status, database=database, broker=broker, workers=workers)


RUN_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)


class _PlatformCollector:
    """Gauges read from the database at scrape time, so every API process reports the same
    numbers whatever worker did the work."""

    def __init__(self, db, sums: bool) -> None:
        self.db = db
        self.sums = sums  # sums of times: for admins only

    def collect(self):
        yield from self._submissions()
        yield self._chunks_waiting()
        if self.sums:
            yield self._device_seconds()
        in_flight = self.db.scalar(
            select(func.count(Run.id)).where(Run.status == RunStatus.RUNNING)
        )
        yield GaugeMetricFamily("arena_runs_in_flight", "Runs executing now", value=in_flight or 0)
        yield self._failures()
        yield self._run_seconds()
        c = GaugeMetricFamily("arena_competitions", "Competitions by status", labels=["status"])
        for status, count in self.db.execute(
            select(Competition.status, func.count(Competition.id)).group_by(Competition.status)
        ):
            c.add_metric([status], count)
        yield c

    def _submissions(self):
        g = GaugeMetricFamily("arena_submissions", "Submissions by status", labels=["status"])
        by_status = dict(
            self.db.execute(
                select(Submission.status, func.count(Submission.id)).group_by(Submission.status)
            ).all()
        )
        for status, count in by_status.items():
            g.add_metric([status], count)
        yield g
        yield GaugeMetricFamily(
            "arena_queue_length",
            "Submissions waiting for a worker",
            value=by_status.get("queued", 0),
        )

    def _chunks_waiting(self) -> GaugeMetricFamily:
        chunks = GaugeMetricFamily(
            "arena_chunks_waiting",
            "Chunks of runs or references sent to a hardware class's queue, not yet taken",
            labels=["hardware_class", "kind"],
        )
        for hw, kind, count in self.db.execute(
            select(WorkChunk.hardware_class, WorkChunk.kind, func.count(WorkChunk.id))
            .where(WorkChunk.status == ChunkStatus.QUEUED, WorkChunk.sent_at.is_not(None))
            .group_by(WorkChunk.hardware_class, WorkChunk.kind)
        ):
            chunks.add_metric([hw, kind], count)
        return chunks

    def _device_seconds(self) -> CounterMetricFamily:
        db = self.db
        submissions = db.scalar(select(func.coalesce(func.sum(Submission.device_seconds), 0.0)))
        preparations = db.scalar(
            select(func.coalesce(func.sum(Competition.preparation_device_seconds), 0.0))
        )
        return CounterMetricFamily(
            "arena_device_seconds",
            "Device time spent on submissions and preparations",
            value=float(submissions or 0) + float(preparations or 0),
        )

    def _failures(self) -> CounterMetricFamily:
        f = CounterMetricFamily(
            "arena_submission_failures", "Failed submissions by reason", labels=["reason"]
        )
        for reason, count in self.db.execute(
            select(Submission.failure_reason, func.count(Submission.id))
            .where(Submission.status == SubmissionStatus.FAILED)
            .group_by(Submission.failure_reason)
        ):
            f.add_metric([reason or "unknown"], count)
        return f

    def _run_seconds(self) -> HistogramMetricFamily:
        """Cumulative buckets counted in SQL, one pass: no run row is loaded."""
        timed = Run.seconds.is_not(None)
        columns = [func.count(case((Run.seconds <= b, 1))) for b in RUN_BUCKETS]
        row = self.db.execute(
            select(*columns, func.count(Run.id), func.coalesce(func.sum(Run.seconds), 0.0)).where(
                timed
            )
        ).one()
        counts, total, seconds = row[: len(RUN_BUCKETS)], row[-2], row[-1]
        buckets = [(str(b), int(n)) for b, n in zip(RUN_BUCKETS, counts, strict=True)]
        buckets.append(("+Inf", int(total)))
        family = HistogramMetricFamily("arena_run_seconds", "Wall time of finished runs")
        family.add_metric([], buckets, float(seconds) if self.sums else None)
        if not self.sums:  # the count without the sum
            family.samples.append(Sample("arena_run_seconds_count", {}, int(total), None))
        return family


@router.get("/metrics", response_class=Response)
def metrics(db: DbSession, settings: AppSettings, user: OptionalUser) -> Response:
    """Prometheus text format: queue length, runs in flight, run durations (counts per
    bucket), failures by reason, submissions and competitions by status, live workers; with
    an admin's token also the sums of run and device time."""
    registry = CollectorRegistry()
    registry.register(_PlatformCollector(db, sums=_is_admin(user)))
    alive = sum(1 for w in worker_states(db, settings) if w["alive"])
    workers = GaugeMetricFamily(
        "arena_workers_alive", "Workers with a recent heartbeat", value=alive
    )
    registry.register(_Static([workers]))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _is_admin(user: User | None) -> bool:
    return user is not None and user.role == Role.ADMIN


class _Static:
    def __init__(self, families) -> None:
        self.families = families

    def collect(self):
        yield from self.families
