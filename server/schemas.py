"""Request and response bodies of the HTTP API (separate from the ORM tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

# What leaves is rounded by these types (server/precision.py, docs/security.md): 4 decimals for
# scores, their parts, intervals and secondary metrics; 0.1 s for every duration; whole
# seconds for times of day. Objects keep full precision; only what is sent is rounded.
from server.precision import (
    SCORE_DECIMALS,
    RequiredSeconds,
    Score,
    ScoreDict,
    Scores,
    Seconds,
    Timestamp,
)

__all__ = ["SCORE_DECIMALS", "Score", "ScoreDict", "Scores", "Seconds", "Timestamp"]


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
    expires_at: datetime | None = Field(None, description="When the token stops working.")


class TokenInfo(BaseModel):
    id: int
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    expires_at: datetime | None = Field(None, description="When the token stops working.")


class Quota(BaseModel):
    max_daily_submissions: int
    max_total_submissions: int | None = None
    max_final_submissions: int = 2
    phase: str | None = Field(None, description="The phase submissions go to now.")
    entrant: str | None = Field(None, description="You, or your team: who the limits count for.")
    used_today: int | None = None
    used_total: int | None = None
    remaining_today: int | None = Field(
        None, description="Submissions you can still make today (within the total limit too)."
    )
    remaining_total: int | None = None
    resets_at: datetime
    max_device_hours_per_day: float | None = Field(
        None, description="Compute quota per entrant per UTC day (none: no compute quota)."
    )
    device_seconds_today: Seconds = Field(
        None,
        description="Compute charged today: finished submissions at their cost, queued and "
        "running ones at their most (N × (budget + grace)).",
    )
    device_seconds_remaining_today: Seconds = None
    submission_reserve_seconds: Seconds = Field(
        None, description="What one more submission is charged until its real cost is known."
    )


class Budget(BaseModel):
    hardware_class: str
    budget_seconds: RequiredSeconds
    original_seconds: RequiredSeconds
    clock: str = Field(
        "wall", description="What both are: 'cpu' (CPU time, the import included) or 'wall' time."
    )


class PreparationProgress(BaseModel):
    stage: str
    done: int
    total: int


class PhasePublic(BaseModel):
    name: str
    start: datetime
    end: datetime | None = None
    leaderboard: str
    max_daily_submissions: int | None = None
    max_total_submissions: int | None = None


class CompetitionPublic(BaseModel):
    slug: str
    title: str
    description: str
    status: str
    status_message: str | None = None
    n_models: int = Field(description="Runs per submission (the public board's N).")
    n_models_private: int = Field(
        description="The private board's N: runs of each final pick and reference models "
        "(larger than n_models when N is staged)."
    )
    rules: str
    clock: str = Field(
        "cpu",
        description="scoring.clock: on CPU classes runs are charged CPU time ('cpu') or wall time "
        "('wall'); GPU classes use wall time.",
    )
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
        default_factory=dict,
        description="Python packages (with versions) your code can import, as the "
        "competition's workers report them (the runtime's packages come on top).",
    )
    sandbox_packages_from: str = Field(
        "", description="Where that list comes from: a worker of which hardware class."
    )
    participation_rules: str = Field(description="The rules to accept before a first submission.")
    rules_accepted: bool | None = Field(None, description="Whether you accepted them (logged in).")
    you_organize: bool | None = None
    phases: list[PhasePublic] = []
    current_phase: str | None = None
    leaderboards: list[str] = []
    public_fraction: float = Field(description="Share of forget examples on the public board.")
    pages: list[str] = Field(
        default_factory=list, description="Its pages (GET .../pages), from its bundle."
    )
    starter_kit: bool = Field(False, description="Whether GET .../kit has a starter kit.")
    validity_report: bool = Field(
        False, description="Whether you can read its validity report (GET .../validity)."
    )
    runtime: list[str] = Field(
        default_factory=list, description="Packages the competition adds (runtime.packages)."
    )
    runtime_packages: dict[str, str] = Field(
        default_factory=dict,
        description="What they resolved to at preparation (name -> version), recorded with every score.",
    )
    scoring_version: int = 1
    participants: int = 0
    created_at: datetime
    prepared_at: datetime | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None


class SubmissionAccepted(BaseModel):
    id: int
    status: str


class RunPublic(BaseModel):
    index: int
    status: str
    seconds: Seconds = Field(
        None, description="Charged time on the competition's clock, the upload's import included."
    )
    budget_seconds: RequiredSeconds
    message: str | None = None
    device: str | None = Field(None, description="The hardware class that ran it.")
    device_seconds: Seconds = Field(
        None, description="Device time of the whole run (sandbox, the function, evaluation)."
    )


class SubmissionPublic(BaseModel):
    id: int
    competition: str
    username: str
    filename: str
    message: str | None = Field(None, description="What the submitter says it tries.")
    method_name: str | None = None
    method_url: str | None = Field(None, description="A paper or code link.")
    status: str
    created_at: Timestamp
    started_at: Timestamp = None
    finished_at: Timestamp = None
    n_models: int
    runs_done: int
    failure_reason: str | None = None
    failure_message: str | None = None
    counts_against_quota: bool
    score: Score = None
    forgetting_quality: Score = None
    retain_ratio: Score = None
    test_ratio: Score = None
    score_ci: Scores = None
    forgetting_quality_ci: Scores = None
    private_score: Score = Field(
        None, description="Score on the private part; organizers only until the phase closes."
    )
    private_stage: str | None = Field(
        None,
        description="Staged N only: the final pick's private stage (queued, running, scored, "
        "failed); none for a submission that is not a final candidate.",
    )
    private_stage_message: str | None = None
    private_score_ci: Scores = None
    private_forgetting_quality: Score = None
    overall_score: Score = Field(
        None, description="Score over all forget examples (with the private scores' visibility)."
    )
    overall_score_ci: Scores = None
    overall_forgetting_quality: Score = None
    phase: str | None = None
    team: str | None = None
    is_final: bool = False
    scoring_version: int | None = None
    code_version: str | None = None
    secondary: ScoreDict = None
    environment: dict[str, Any] | None = None
    elapsed_seconds: Seconds = None
    budget_seconds: Seconds = None
    clock: str | None = Field(
        None, description="What run times and the budget are: 'cpu' (CPU time) or 'wall' time."
    )
    run_seconds_median: Seconds = None
    runs_dropped: int = Field(
        0, description="over_budget=drop: runs over budget, scored as the original model."
    )
    diagnostic: dict[str, Any] | None = Field(
        None,
        description="The run on public data before the hidden runs (its author's, team's and "
        "organizers' only): status, seconds, clock and its full message; its log at "
        "/submissions/{id}/diagnostic-log.",
    )
    n_unscorable: int | None = None
    epsilon_histogram: dict[str, Any] | None = None
    most_distinguishable: list[int] | None = None
    accuracy: ScoreDict = None
    hardware_class: str | None = None
    device_seconds: Seconds = Field(
        None, description="Device time of every run so far (compute accounting)."
    )
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
    team: bool = False
    score: Score
    score_ci: Scores
    forgetting_quality: Score = None
    retain_ratio: Score = None
    test_ratio: Score = None
    tied_with_next: bool = False
    rank_interval: list[int] | None = Field(
        None,
        description="95% interval of the rank, [best, worst], from the bootstrap over forget "
        "examples that gives score_ci (one resample for all rows).",
    )
    submissions: int = 0
    last_submitted_at: Timestamp = None
    submission_id: int | None = None
    reference: bool = False
    baseline: bool = Field(
        False,
        description="A known method the organizers scored at preparation (validity.baselines).",
    )
    mia: Score = Field(None, description="MIA accuracy (target: the references' own).")
    avg_gap: Score = Field(None, description="Average gap to retraining (lower is better).")
    rf_jsd_x1e4: Score = Field(None, description="Retrain-free JSD ×10⁴ (lower is better).")
    public_rank: int | None = Field(
        None, description="Private board: the entrant's rank on the public board (the shake-up)."
    )


class Leaderboard(BaseModel):
    competition: str
    board: str = Field(description="public or private part of the forget set")
    phase_board: str = Field("main", description="The leaderboard (of a phase) shown.")
    n_models: int
    scoring_version: int = 1
    sort: str = "score"
    page: int = 1
    per_page: int = 50
    total_rows: int = Field(0, description="Entrant rows before pagination (references excluded).")
    score_ci_note: str = (
        "95% bootstrap interval over forget examples (models held fixed); "
        "rows marked tied_with_next are not distinguishable from the next row at 95%; "
        "(2–6) after a rank is its 95% rank interval from the same resamples."
    )
    rows: list[LeaderboardRow]


class Health(BaseModel):
    status: str
    database: str
    broker: str
    workers: list[dict[str, Any]]


class EntrantCompute(BaseModel):
    entrant: str
    team: bool = False
    submissions: int
    device_seconds: RequiredSeconds
    platform_failures_device_seconds: RequiredSeconds = Field(
        0.0,
        description="Part of it spent on submissions that failed as the platform's fault "
        "(never charged to the entrant).",
    )


class CompetitionCompute(BaseModel):
    competition: str
    submissions: int
    runs: int
    submissions_device_seconds: RequiredSeconds
    preparation_device_seconds: Seconds = Field(
        None,
        description="Original model, its timing, the references and the baselines' runs "
        "(organizers only).",
    )
    baselines_device_seconds: Seconds = Field(
        None, description="Of the preparation: the runs of validity.baselines (organizers only)."
    )
    total_device_seconds: RequiredSeconds
    entrants: list[EntrantCompute]
