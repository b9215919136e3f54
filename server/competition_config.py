"""A competition's settings: dataset, split, model, training recipe, scoring rules and limits.

Stored as JSON on the competition row; the worker and the server read it through this model,
so every value has one definition and one default (SCORING.md names the scoring defaults).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetConfig(_Strict):
    loader: Literal["sklearn_digits"] = Field(
        "sklearn_digits", description="Built-in dataset that ships with an installed package."
    )
    max_examples: int | None = Field(
        None,
        ge=20,
        description="Use only the first examples of a fixed shuffle (for tiny competitions).",
    )


class SplitConfig(_Strict):
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    forget_size: int = Field(
        100, ge=2, description="Number of train examples to forget (a random sample)."
    )

    @model_validator(mode="after")
    def _fractions(self) -> SplitConfig:
        if self.test_fraction + self.val_fraction >= 0.9:
            raise ValueError("test_fraction + val_fraction must leave at least 10% for train")
        return self


class ModelConfig(_Strict):
    name: Literal["mlp"] = "mlp"
    hidden: list[int] = Field(default_factory=lambda: [128], min_length=1, max_length=8)

    @field_validator("hidden")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(h < 1 or h > 16384 for h in value):
            raise ValueError("every hidden layer width must be between 1 and 16384")
        return value


class RecipeConfig(_Strict):
    epochs: int = Field(30, ge=1, le=10_000)
    batch_size: int = Field(64, ge=1, le=65_536)
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)


class ScoringConfig(_Strict):
    n_models: int = Field(
        32, ge=2, le=4096, description="N: runs per submission and reference models."
    )
    rules: Literal["official", "exact"] = Field(
        "official", description="ε rule family (SCORING.md §4)."
    )
    delta: float = Field(1e-5, ge=0, lt=1)
    epsilon_cap: float = Field(50.0, gt=0)
    budget_fraction: float = Field(0.10, gt=0, le=100)
    budget_floor_seconds: float = Field(0.0, ge=0)
    grace_fraction: float = Field(0.10, ge=0)
    grace_min_seconds: float = Field(1.0, ge=0)
    timing_repeats: int = Field(
        3, ge=1, le=20, description="Warm timings of the original training."
    )
    over_budget: Literal["fail", "drop"] = "fail"
    min_runs: int | None = Field(None, ge=2, description="With over_budget=drop; default N/2.")
    bootstrap_resamples: int = Field(1000, ge=10, le=100_000)

    @property
    def effective_min_runs(self) -> int:
        return self.min_runs if self.min_runs is not None else max(2, self.n_models // 2)


class LimitsConfig(_Strict):
    max_daily_submissions: int = Field(10, ge=1)
    max_upload_bytes: int | None = Field(None, ge=1, description="Default: the platform setting.")
    memory_mb: int = Field(
        4096, ge=256, le=1 << 20, description="Memory limit of one run's sandbox."
    )
    setup_timeout_seconds: float = Field(
        300.0,
        gt=0,
        le=3600,
        description="Time a submission's top-level code (notebook cells) may take.",
    )


class CompetitionConfig(_Strict):
    slug: str
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    seed: int = Field(0, ge=0, le=2**31 - 1)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    recipe: RecipeConfig = Field(default_factory=RecipeConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    loader_batch_size: int = Field(
        64, ge=1, le=65_536, description="Batch size of the loaders handed to unlearning()."
    )

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG_RE.match(value):
            raise ValueError(
                "slug must be 3-64 characters of a-z, 0-9 and '-', not starting or ending with '-'"
            )
        return value


def demo_config() -> CompetitionConfig:
    """The seeded demo: sklearn's bundled 8×8 digits, a small MLP, N = 32."""
    return CompetitionConfig(
        slug="digits-demo",
        title="Digits demo: forget 100 handwritten digits",
        description=(
            "Forget a random sample of 100 training images of scikit-learn's bundled 8x8 digits "
            "(1,797 images, 10 classes) from a small MLP. Scored with the NeurIPS 2023 metric "
            "against 32 models retrained without them."
        ),
        seed=2023,
        scoring=ScoringConfig(n_models=32, budget_floor_seconds=3.0),
    )
