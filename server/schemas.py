"""Request and response bodies of the HTTP API (separate from the ORM tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class UserCreate(BaseModel):
    username: str = Field(
        min_length=3,
        max_length=32,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="3-32 characters: letters, digits, '_', '.', '-'",
    )
    password: str = Field(min_length=8, max_length=256, description="At least 8 characters.")


class UserPublic(BaseModel):
    id: int
    username: str
    role: str
    created_at: datetime


class TokenRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class TokenResponse(BaseModel):
    token: str
    token_type: str = "bearer"


class TokenInfo(BaseModel):
    id: int
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class Quota(BaseModel):
    max_daily_submissions: int
    used_today: int | None = None
    remaining_today: int | None = None
    resets_at: datetime


class Budget(BaseModel):
    hardware_class: str
    budget_seconds: float
    original_seconds: float


class PreparationProgress(BaseModel):
    stage: str
    done: int
    total: int


class CompetitionPublic(BaseModel):
    slug: str
    title: str
    description: str
    status: str
    status_message: str | None = None
    n_models: int
    rules: str
    over_budget: str
    budget_fraction: float
    budget_floor_seconds: float
    budgets: list[Budget]
    preparation: PreparationProgress | None = None
    data: dict[str, Any]
    limits: Quota
    max_upload_bytes: int
    accepted_files: list[str]
    memory_limit_mb: int
    setup_timeout_seconds: float
    sandbox_packages: dict[str, str] = Field(
        default_factory=dict, description="Python packages (with versions) your code can import."
    )
    created_at: datetime
    prepared_at: datetime | None = None


class SubmissionAccepted(BaseModel):
    id: int
    status: str


class RunPublic(BaseModel):
    index: int
    status: str
    seconds: float | None = None
    budget_seconds: float
    message: str | None = None


class SubmissionPublic(BaseModel):
    id: int
    competition: str
    username: str
    filename: str
    status: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    n_models: int
    runs_done: int
    failure_reason: str | None = None
    failure_message: str | None = None
    counts_against_quota: bool
    score: float | None = None
    forgetting_quality: float | None = None
    retain_ratio: float | None = None
    test_ratio: float | None = None
    score_ci: list[float | None] | None = None
    forgetting_quality_ci: list[float | None] | None = None
    secondary: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None
    elapsed_seconds: float | None = None
    budget_seconds: float | None = None
    n_unscorable: int | None = None
    epsilon_histogram: dict[str, Any] | None = None
    most_distinguishable: list[int] | None = None
    accuracy: dict[str, Any] | None = None
    hardware_class: str | None = None
    runs: list[RunPublic] = []


class RunLog(BaseModel):
    index: int
    status: str
    log: str


class RunLogs(BaseModel):
    submission_id: int
    note: str = "Each log keeps the first and last 512 KiB of the run's output."
    runs: list[RunLog]


class LeaderboardRow(BaseModel):
    rank: int | None
    name: str
    score: float | None
    score_ci: list[float | None] | None
    forgetting_quality: float | None = None
    retain_ratio: float | None = None
    test_ratio: float | None = None
    tied_with_next: bool = False
    submissions: int = 0
    last_submitted_at: datetime | None = None
    submission_id: int | None = None
    reference: bool = False


class Leaderboard(BaseModel):
    competition: str
    board: str
    n_models: int
    score_ci_note: str = (
        "95% bootstrap interval over forget examples (models held fixed); "
        "rows marked tied_with_next are not distinguishable from the next row at 95%."
    )
    rows: list[LeaderboardRow]


class Health(BaseModel):
    status: str
    database: str
    broker: str
    workers: list[dict[str, Any]]
