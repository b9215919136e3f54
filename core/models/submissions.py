"""Submissions, their runs, the chunks of fanned-out work and the workers' heartbeats."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import (
    Base,
    ChunkStatus,
    RunStatus,
    SubmissionStatus,
    utcnow,
)

if TYPE_CHECKING:
    from core.models.accounts import User
    from core.models.competitions import Competition, Team


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
    message: Mapped[str | None] = mapped_column(String(500))  # the submitter's note
    method_name: Mapped[str | None] = mapped_column(String(100))
    method_url: Mapped[str | None] = mapped_column(String(500))  # paper or code
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
    # the diagnostic run on public data: {"status", "seconds", "message"} (its log is stored
    # beside the runs' logs); its author's to read in full (worker/pipeline/diagnostic.py)
    diagnostic: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
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


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"

    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    hardware_class: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    # what the worker found at start: its sandbox's readiness (worker.sandbox.readiness) and
    # the packages participant code can import there
    sandbox: Mapped[dict[str, Any] | None]
    packages: Mapped[dict[str, Any] | None]


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
