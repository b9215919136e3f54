"""The declarative base, the UTC time type and the states every table uses."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Role(StrEnum):
    ADMIN = "admin"
    ORGANIZER = "organizer"
    PARTICIPANT = "participant"


class CompetitionStatus(StrEnum):
    """draft → preparing → ready → open → closed; a failed preparation can be resumed."""

    DRAFT = "draft"
    PREPARING = "preparing"
    READY = "ready"
    OPEN = "open"
    CLOSED = "closed"
    FAILED = "failed"


PREPARED_STATUSES = frozenset(
    {CompetitionStatus.READY, CompetitionStatus.OPEN, CompetitionStatus.CLOSED}
)


class SubmissionStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SCORED = "scored"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_SUBMISSION_STATUSES = frozenset(
    {SubmissionStatus.SCORED, SubmissionStatus.FAILED, SubmissionStatus.CANCELLED}
)


class FailureReason(StrEnum):
    OVER_BUDGET = "over_budget"
    TIMED_OUT = "timed_out"
    OUT_OF_MEMORY = "out_of_memory"
    CRASHED = "crashed"
    INVALID_OUTPUT = "invalid_output"
    INFRASTRUCTURE = "infrastructure"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    OVER_BUDGET = "over_budget"
    FAILED = "failed"


class PrivateStage(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SCORED = "scored"
    FAILED = "failed"


class ChunkStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # it failed its submission (a run's verdict) or its preparation
    ABANDONED = "abandoned"  # its submission ended (failed, cancelled) before it did


ACTIVE_CHUNK_STATUSES = frozenset({ChunkStatus.QUEUED, ChunkStatus.RUNNING})


class ChunkKind(StrEnum):
    RUNS = "runs"  # runs [start, stop) of a submission
    REFERENCES = "references"  # reference models [start, stop) of a competition


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}
