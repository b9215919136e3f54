"""Competitions and what hangs off them: budgets, organizers, rules, audit, data, teams."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.competition_config import CompetitionConfig
from core.hidden_seed import new_secret, working_config
from core.models.base import Base, CompetitionStatus, utcnow

if TYPE_CHECKING:
    from core.models.accounts import User


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
    # pages, starter kit and files of its bundle (core.bundle)
    bundle: Mapped[dict[str, Any] | None]
    # what its runtime's packages resolved to at preparation (worker/runtime.py)
    runtime_lock: Mapped[dict[str, Any] | None]
    # how far its boards can be trusted (core.validity), refreshed by worker/jobs/validity.py
    validity: Mapped[dict[str, Any] | None]
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
    # the hidden split's randomness (core/hidden_seed.py): made here, never serialised; None on
    # competitions created before it (their split follows from their published seed)
    split_secret: Mapped[str | None] = mapped_column(String(64), default=new_secret)

    @property
    def working_config(self) -> CompetitionConfig:
        """Its settings as hidden computations use them: the working seed, not the published."""
        return working_config(self.config, self.split_secret)

    budgets: Mapped[list[CompetitionBudget]] = relationship(
        back_populates="competition", cascade="all, delete-orphan"
    )


class CompetitionBudget(Base):
    """Per-run time budget of a competition on one hardware class (docs/scoring.md §1)."""

    __tablename__ = "competition_budgets"
    __table_args__ = (UniqueConstraint("competition_id", "hardware_class"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(ForeignKey("competitions.id", ondelete="CASCADE"))
    hardware_class: Mapped[str] = mapped_column(String(128))
    original_seconds: Mapped[float] = mapped_column(Float)
    budget_seconds: Mapped[float] = mapped_column(Float)
    # what both are measured on: "cpu" (CPU time) or "wall" (docs/scoring.md §1); a class whose
    # clock changes is timed again
    clock: Mapped[str] = mapped_column(String(8), default="wall", server_default="wall")
    samples: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)  # the timings
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
