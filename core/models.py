"""ORM models. The schema changes only through Alembic migrations (``migrations/``)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


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


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.PARTICIPANT)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_ip: Mapped[str | None] = mapped_column(String(64), index=True)

    user: Mapped[User] = relationship(back_populates="tokens")


class Competition(Base):
    __tablename__ = "competitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    config: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default=CompetitionStatus.DRAFT)
    status_message: Mapped[str | None] = mapped_column(Text)
    preparation_progress: Mapped[dict[str, Any] | None]
    reference_summary: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    prepared_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    scoring_version: Mapped[int] = mapped_column(Integer, default=1)
    heartbeat_at: Mapped[datetime | None]
    preparation_attempts: Mapped[int] = mapped_column(Integer, default=0)
    preparation_device_seconds: Mapped[float] = mapped_column(
        Float, default=0.0, server_default="0"
    )

    budgets: Mapped[list[CompetitionBudget]] = relationship(
        back_populates="competition", cascade="all, delete-orphan"
    )


class CompetitionBudget(Base):
    """Per-run time budget of a competition on one hardware class (SCORING.md §1)."""

    __tablename__ = "competition_budgets"
    __table_args__ = (UniqueConstraint("competition_id", "hardware_class"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(ForeignKey("competitions.id", ondelete="CASCADE"))
    hardware_class: Mapped[str] = mapped_column(String(128))
    original_seconds: Mapped[float] = mapped_column(Float)
    budget_seconds: Mapped[float] = mapped_column(Float)
    measured_at: Mapped[datetime] = mapped_column(default=utcnow)

    competition: Mapped[Competition] = relationship(back_populates="budgets")


class CompetitionOrganizer(Base):
    """A co-organizer: manages the competition like its owner."""

    __tablename__ = "competition_organizers"

    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class RulesAcceptance(Base):
    __tablename__ = "rules_acceptances"

    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who did what to a competition, and when. Written with the change it records."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int | None] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None]
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Dataset(Base):
    """An organizer's uploaded hidden dataset (never served to anyone)."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), unique=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    summary: Mapped[dict[str, Any]]
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("competition_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[TeamMember]] = relationship(
        back_populates="team", cascade="all, delete-orphan"
    )


class TeamMember(Base):
    """One user's membership; a user is in at most one team per competition."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("competition_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    competition_id: Mapped[int] = mapped_column(ForeignKey("competitions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class TeamInvite(Base):
    __tablename__ = "team_invites"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team] = relationship()


class Disqualification(Base):
    """A participant or team whose rows are hidden (their submissions are kept)."""

    __tablename__ = "disqualifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        # the leaderboard: scored submissions of a competition's current version, by score
        Index("ix_submissions_board", "competition_id", "status", "scoring_version", "score"),
        # quotas: an entrant's submissions in a competition, by time
        Index("ix_submissions_quota_user", "competition_id", "user_id", "created_at"),
        Index("ix_submissions_quota_team", "competition_id", "team_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(ForeignKey("competitions.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    phase: Mapped[str | None] = mapped_column(String(64))
    client_ip: Mapped[str | None] = mapped_column(String(64), index=True)
    is_final: Mapped[bool] = mapped_column(Boolean, default=False)
    filename: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=SubmissionStatus.QUEUED, index=True)
    failure_reason: Mapped[str | None] = mapped_column(String(32))
    failure_message: Mapped[str | None] = mapped_column(Text)
    counts_against_quota: Mapped[bool] = mapped_column(Boolean, default=True)
    hardware_class: Mapped[str | None] = mapped_column(String(128))
    n_models: Mapped[int] = mapped_column(Integer)
    runs_done: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float | None] = mapped_column(Float)
    forgetting_quality: Mapped[float | None] = mapped_column(Float)
    retain_ratio: Mapped[float | None] = mapped_column(Float)
    test_ratio: Mapped[float | None] = mapped_column(Float)
    score_ci_low: Mapped[float | None] = mapped_column(Float)
    score_ci_high: Mapped[float | None] = mapped_column(Float)
    private_score: Mapped[float | None] = mapped_column(Float)
    private_score_ci_low: Mapped[float | None] = mapped_column(Float)
    private_score_ci_high: Mapped[float | None] = mapped_column(Float)
    scoring_version: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(255))
    device_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # staged N: the private stage of a final pick (queued → running → scored | failed)
    private_stage: Mapped[str | None] = mapped_column(String(16), index=True)
    private_stage_message: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship()
    team: Mapped[Team | None] = relationship()
    competition: Mapped[Competition] = relationship()
    runs: Mapped[list[Run]] = relationship(
        back_populates="submission", order_by="Run.index", cascade="all, delete-orphan"
    )


class Run(Base):
    """One of a submission's N Monte-Carlo runs; keyed by (submission, index) so a redelivered
    task never records a run twice."""

    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("submission_id", "index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED)
    seconds: Mapped[float | None] = mapped_column(Float)
    budget_seconds: Mapped[float] = mapped_column(Float)
    error_message: Mapped[str | None] = mapped_column(Text)
    log_path: Mapped[str | None] = mapped_column(String(500))
    finished_at: Mapped[datetime | None]
    device: Mapped[str | None] = mapped_column(String(128))  # the hardware class that ran it
    device_seconds: Mapped[float | None] = mapped_column(Float)  # the device held, whole run

    submission: Mapped[Submission] = relationship(back_populates="runs")


class LoginFailure(Base):
    """A failed login, for rate limiting (per username and per address)."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str | None] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"

    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    hardware_class: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class WorkChunk(Base):
    """A slice of fanned-out work: runs ``start..stop-1`` of a submission, or reference models
    ``start..stop-1`` of a competition's preparation. Any worker of ``hardware_class`` takes it
    (claim: queued → running, atomically); its heartbeat tells the reaper it is alive."""

    __tablename__ = "work_chunks"
    __table_args__ = (
        Index("ix_work_chunks_owner", "kind", "competition_id", "submission_id", "status"),
        Index("ix_work_chunks_status_heartbeat", "status", "heartbeat_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    competition_id: Mapped[int] = mapped_column(ForeignKey("competitions.id", ondelete="CASCADE"))
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE")
    )
    start: Mapped[int] = mapped_column(Integer)
    stop: Mapped[int] = mapped_column(Integer)
    hardware_class: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default=ChunkStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    device_seconds: Mapped[float | None] = mapped_column(Float)
