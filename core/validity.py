"""A competition's validity report: how far its leaderboards can be trusted (typed, stored on the
competition, served by ``GET /competitions/{slug}/validity``; docs/metric.md says how to read it).

Computed by the worker (``worker/jobs/validity.py``) at the end of the preparation, after each
rescoring and at the close; every number comes from :mod:`scoring.validity`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.jsonsafe import json_safe

#: The platform's example methods (examples/NAME.py) that a competition can score as baselines.
BUILTIN_BASELINES = (
    "identity",
    "finetune",
    "neggrad_plus",
    "random_labels",
    "scrub",
    "ssd",
    "lotus",
    "retrain",
)


class ValidityConfig(BaseModel):
    """The validity report's settings (docs/metric.md, "Reading the validity report")."""

    model_config = ConfigDict(extra="forbid")

    public: bool = Field(
        False,
        description="Show the report to everyone before the close (it is public after the close).",
    )
    null_splits: int = Field(
        50,
        ge=2,
        le=1000,
        description="Random splits of the reference pool for the retrain-vs-retrain null distribution.",
    )
    differences: list[float] = Field(
        default_factory=lambda: [0.01, 0.02, 0.05],
        min_length=1,
        max_length=8,
        description="Differences in F the planner sizes N for (80% power, 5% level).",
    )

    baselines: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="Known methods scored through the platform at the end of the preparation "
        "and shown on the boards as marked rows (the floor every entry should beat): built-in "
        "examples (" + ", ".join(BUILTIN_BASELINES) + ") or kit:PATH, a .py or .ipynb of the "
        "bundle's starter kit. Their runs are charged to the preparation's compute.",
    )

    @field_validator("baselines")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for name in value:
            if name.startswith("kit:"):
                if not name.endswith((".py", ".ipynb")) or ".." in name or name[4:].startswith("/"):
                    raise ValueError(f"{name!r}: kit:PATH names a .py or .ipynb of the kit/ folder")
            elif name not in BUILTIN_BASELINES:
                raise ValueError(
                    f"{name!r} is not a built-in baseline ({', '.join(BUILTIN_BASELINES)}); "
                    "for a method of your starter kit write kit:PATH"
                )
        if len(set(value)) != len(value):
            raise ValueError("each baseline once")
        return value

    @field_validator("differences")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if any(not 0 < d < 1 for d in value):
            raise ValueError("each difference must be between 0 and 1")
        return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class NullBoard(_Model):
    """What a perfect method can expect on one board: F of retraining against itself."""

    board: str  # "public" or "private"
    n_models: int = Field(description="The board's N.")
    n_per_side: int = Field(description="References on each side of every split.")
    n_examples: int = Field(description="Forget examples of this board.")
    splits: int
    mean: float | None = None
    sd: float | None = None
    low: float | None = Field(None, description="2.5% quantile over the splits.")
    high: float | None = Field(None, description="97.5% quantile over the splits.")
    values: list[float | None] = Field(default_factory=list, description="F of each split.")
    board_row: float | None = Field(None, description="F of the board's own retrain row.")


class PlanRow(_Model):
    difference: float = Field(description="True difference in F between two entries.")
    n_models: int | None = Field(None, description="N per side for 80% power; None: no fit.")
    submission_device_seconds: float | None = Field(
        None, description="N runs at this competition's median measured run time."
    )
    preparation_device_seconds: float | None = Field(
        None, description="N references at this competition's measured seconds per reference."
    )


class Planner(_Model):
    """The N at which a difference in F is told apart (80% power, two-sided 5% test)."""

    sd_by_n: dict[int, float] = Field(default_factory=dict, description="Null sd of F per N.")
    exponent: float | None = None
    scale: float | None = None
    power: float = 0.8
    alpha: float = 0.05
    run_seconds_median: float | None = None
    reference_seconds: float | None = None
    rows: list[PlanRow] = Field(default_factory=list)


class RankSwing(_Model):
    submission_id: int
    label: str
    rank_a: int
    rank_b: int


class Agreement(_Model):
    """How well two scorings of the same entries rank them alike."""

    key: str  # "boards", "stages", "rules"
    title: str
    a_label: str
    b_label: str
    n_entries: int = 0
    tau: float | None = None
    low: float | None = None
    high: float | None = None
    resampled: str = "entries, 1000 bootstrap resamples"
    swings: list[RankSwing] = Field(default_factory=list)
    points: list[tuple[int, int]] = Field(
        default_factory=list, description="(rank under a, rank under b) per entry."
    )
    note: str | None = Field(None, description="Why there is no figure yet.")


class Correlation(_Model):
    metric: str
    against: str
    rho: float | None = None
    n: int = 0


class ValidityReport(_Model):
    computed_at: datetime
    trigger: str = Field(description="preparation, rescoring, close, private stage or request")
    seconds: float = Field(description="Time the report took to compute.")
    rules: str
    nulls: list[NullBoard] = Field(default_factory=list)
    planner: Planner | None = None
    agreements: list[Agreement] = Field(default_factory=list)
    correlations: list[Correlation] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def stored(self) -> dict[str, Any]:
        stored: dict[str, Any] = json_safe(self.model_dump(mode="json"))
        return stored


def load_validity(stored: dict[str, Any] | None) -> ValidityReport | None:
    return ValidityReport.model_validate(stored) if stored else None
