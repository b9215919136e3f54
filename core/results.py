"""What a scored submission is: the typed result that finalizing returns, that is stored, and
that every reader validates (docs/scoring.md says how each number is computed).

Words, used the same way everywhere in the code: a **part** is the public or the private part
of the forget set, which the public or the private leaderboard ranks on (``parts``, stored as
``"boards"`` as the API names it); a **stage** is a round of runs at one N (the public N at
upload; under staged N, final picks run a second, private stage up to the private N); a
**board** is a phase's leaderboard. A result covers every forget example at its top level (ε,
F, the score, the utility ratios, secondary metrics) and holds the same per part; under staged
N the private part waits for the private stage, whose whole-forget-set numbers are kept under
``private_stage``.

Numbers are floats where the scoring library gives floats; NaN (nothing to score) is stored as
null. Results stored by older versions load through :meth:`SubmissionResult.upgrade`.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.jsonsafe import json_safe

Interval = list[float | None]


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _no_interval() -> Interval:
    return [None, None]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    def stored(self) -> dict[str, Any]:
        """The JSON that the database holds (NaN and infinities as null)."""
        stored: dict[str, Any] = json_safe(self.model_dump(mode="python", by_alias=True))
        return stored


class Histogram(_Model):
    """Counts of finite ε per half-unit bucket; the last bucket is the cap and above."""

    edges: list[float]
    counts: list[int]


class Accuracy(_Model):
    retain_unlearned: float | None = None
    retain_retrained: float | None = None
    test_unlearned: float | None = None
    test_retrained: float | None = None
    forget_unlearned: float | None = None
    forget_retrained: float | None = None


class SecondaryMetrics(_Model):
    """Reported beside the score, never ranked by default (docs/scoring.md, secondary)."""

    mia: float | None = None
    mia_target: float | None = None
    avg_gap: float | None = None
    jsd_to_retrained_x1e4: float | None = None
    rf_jsd_x1e4: float | None = None
    jsd_form: str | None = None


class PartSummary(_Model):
    """F, the score and their intervals over one part of the forget set."""

    score: float | None = None
    forgetting_quality: float | None = None
    score_ci: Interval = Field(default_factory=_no_interval)
    forgetting_quality_ci: Interval | None = None
    n_examples: int | None = None
    n_unscorable: int | None = None
    n_models: int | None = None
    epsilon_histogram: Histogram | None = None
    most_distinguishable: list[int] = Field(default_factory=list)  # forget-set ids
    pending: str | None = None  # staged N: why the private board has no score yet
    name: str | None = None  # reference rows: what the row is ("retrain, 16 vs 16")
    # The figures shown beside the part's score, over this part's forget examples only (the
    # retain and test sets are the whole ones), at the N of the stage that scored the part: what
    # a participant reads before the close is the public part's (docs/security.md, "Figures
    # computed on hidden examples"). None in results stored before they were kept per part.
    retain_ratio: float | None = None
    test_ratio: float | None = None
    accuracy: Accuracy | None = None
    secondary: SecondaryMetrics | None = None
    n_test: int | None = None  # test examples behind the test figures (their precision)


class Parts(_Model):
    public: PartSummary = Field(default_factory=PartSummary)
    private: PartSummary = Field(default_factory=PartSummary)


class ScoringVersions(_Model):
    """What produced the numbers: the scoring settings and the platform's code version."""

    settings: dict[str, Any] = Field(default_factory=dict)
    public_fraction: float | None = None
    code_version: str | None = None


class ScoredRuns(_Model):
    """The numbers over the whole forget set from N runs against N references."""

    score: float | None = None
    forgetting_quality: float | None = None
    score_ci: Interval = Field(default_factory=_no_interval)
    forgetting_quality_ci: Interval | None = None
    n_models: int | None = None
    epsilons: list[float | None] = Field(default_factory=list)  # None: unscorable (NaN)
    retain_ratio: float | None = None
    test_ratio: float | None = None
    accuracy: Accuracy | None = None
    secondary: SecondaryMetrics | None = None
    epsilon_histogram: Histogram | None = None
    n_unscorable: int | None = None

    def stage_part(self) -> ScoredRuns:
        """Only the whole-forget-set numbers (what a private stage keeps)."""
        return ScoredRuns.model_validate(self.model_dump(include=set(ScoredRuns.model_fields)))


class SubmissionResult(ScoredRuns):
    """A scored submission (or a reference row): the whole-forget-set numbers, per board, the
    private stage under staged N, and how and where it was computed."""

    n_examples: int | None = None
    most_distinguishable: list[int] = Field(default_factory=list)
    interval_note: str | None = None
    rules: str | None = None
    parts: Parts = Field(default_factory=Parts, alias="boards")  # stored as "boards"
    private_stage: ScoredRuns | None = None
    budget_seconds: float | None = None
    clock: str | None = None  # what run times and the budget are: "cpu" or "wall" time
    run_seconds_median: float | None = None
    elapsed_seconds: float | None = None
    runs_dropped: int = 0  # over_budget=drop: runs over budget, counted as the original model
    environment: dict[str, Any] | None = None
    scoring: ScoringVersions | None = None
    name: str | None = None  # reference rows

    @model_validator(mode="before")
    @classmethod
    def upgrade(cls, data: Any) -> Any:
        """Results stored before per-board summaries: the top level is the public board."""
        if isinstance(data, dict) and not (data.get("boards") or data.get("parts")):
            public = {k: data.get(k) for k in PartSummary.model_fields if k in data}
            if public:
                data = {**data, "boards": {"public": public, "private": {}}}
        return data

    def part(self, name: str) -> PartSummary:
        """The numbers over the public or the private part of the forget set."""
        return self.parts.private if name == "private" else self.parts.public

    @property
    def overall(self) -> ScoredRuns:
        """The whole forget set at the largest N run: the private stage's once it has run."""
        return self.private_stage or self

    @property
    def score_is_finite(self) -> bool:
        return _finite(self.score) is not None


def load_result(stored: dict[str, Any] | None) -> SubmissionResult:
    """A stored result (any version), validated; empty for a submission not scored yet."""
    return SubmissionResult.model_validate(stored or {})


def load_secondary(stored: dict[str, Any] | None) -> SecondaryMetrics:
    """Only a stored result's secondary metrics (what sorting a board of thousands by one of
    them needs), validated."""
    return SecondaryMetrics.model_validate((stored or {}).get("secondary") or {})


def load_part(stored: dict[str, Any] | None, part: str) -> PartSummary:
    """Only one part of a stored result (what sorting a board of thousands by one of its
    secondary metrics needs), validated; a result stored before per-part summaries is its
    public part, as :meth:`SubmissionResult.upgrade` reads it."""
    stored = stored or {}
    boards = stored.get("boards") or stored.get("parts")
    if boards:
        data = boards.get(part) or {}
    elif part == "public":
        data = stored
    else:
        data = {}
    return PartSummary.model_validate(data)


class ReferenceSummary(_Model):
    """A competition's reference rows (retraining against itself, the unchanged model) and the
    timing samples of its original training."""

    retrain: SubmissionResult | None = None
    original: SubmissionResult | None = None
    original_accuracy: dict[str, Any] | None = None
    timing_samples: Any = None
    # validity.baselines scored at preparation (name -> row), and those that failed (name -> why)
    baselines: dict[str, SubmissionResult] = Field(default_factory=dict)
    baseline_failures: dict[str, str] = Field(default_factory=dict)
    baseline_device_seconds: float = 0.0  # their runs, charged to the preparation

    def rows(self) -> list[SubmissionResult]:
        rows = [self.retrain, self.original, *self.baselines.values()]
        return [r for r in rows if r is not None and r.score is not None]


def load_references(stored: dict[str, Any] | None) -> ReferenceSummary:
    return ReferenceSummary.model_validate(stored or {})
