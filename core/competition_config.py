"""A competition's settings: dataset, split, model, training recipe, scoring rules and limits.

Stored as JSON on the competition row; the worker and the server read it through this model,
so every value has one definition and one default (docs/scoring.md names the scoring defaults).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from core.model_config import (  # re-exported: the model and recipe sections
    MODEL_NAMES,
    AugmentConfig,
    CNNModel,
    MLPModel,
    ModelConfig,
    ModuleModel,
    RecipeConfig,
    ResNet18Model,
    _Strict,
)
from core.validity import ValidityConfig

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")
__all__ = [
    "MODEL_NAMES",
    "AugmentConfig",
    "CNNModel",
    "CompetitionConfig",
    "MLPModel",
    "ModelConfig",
    "ModuleModel",
    "RecipeConfig",
    "ResNet18Model",
]


BUILTIN_DATASETS = {
    "sklearn_digits": "scikit-learn's bundled 8x8 digits as 64 features (1,797 images, 10 classes)",
    "sklearn_digits_image": "the same digits as 1x8x8 images (for convolutional models)",
}


class DatasetConfig(_Strict):
    source: Literal["builtin", "upload"] = Field(
        "builtin",
        description="builtin: data that ships with an installed package (see `loader`); "
        "upload: an .npz the organizer uploads (PUT /competitions/{slug}/dataset).",
    )
    loader: Literal["sklearn_digits", "sklearn_digits_image"] | None = Field(
        "sklearn_digits", description="Built-in dataset (source: builtin)."
    )
    n_classes: int | None = Field(
        None, ge=2, le=100_000, description="Number of classes (required for source: upload)."
    )
    input_shape: list[int] | None = Field(
        None,
        min_length=1,
        max_length=4,
        description="Shape of one example, e.g. [3, 32, 32] (source: upload; optional). Given, "
        "the organizer's model is checked on it at creation, and the upload must match it.",
    )
    max_examples: int | None = Field(
        None,
        ge=20,
        description="Use only the first examples of a fixed shuffle (for tiny competitions).",
    )

    @model_validator(mode="after")
    def _source(self) -> DatasetConfig:
        if self.source == "builtin" and self.loader is None:
            raise ValueError(
                "a builtin dataset needs `loader` (one of: sklearn_digits, sklearn_digits_image)"
            )
        if self.source == "upload" and self.n_classes is None:
            raise ValueError("an uploaded dataset needs `n_classes`")
        if self.source == "upload" and self.loader is not None:
            self.loader = None  # not used: the data are the upload
        return self


class SplitConfig(_Strict):
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    forget_size: int | None = Field(
        100, ge=2, description="Number of train examples to forget (a random sample)."
    )
    forget_groups: int | None = Field(
        None,
        ge=1,
        description="Forget all train examples of this many groups (the dataset's `group` ids, "
        "e.g. people) instead of a random sample; set forget_size to null.",
    )

    @model_validator(mode="after")
    def _fractions(self) -> SplitConfig:
        if self.test_fraction + self.val_fraction >= 0.9:
            raise ValueError("test_fraction + val_fraction must leave at least 10% for train")
        if (self.forget_size is None) == (self.forget_groups is None):
            raise ValueError("set exactly one of forget_size (random sample) and forget_groups")
        return self


class StagedN(_Strict):
    """N per leaderboard: every submission is scored at ``public`` runs against the first
    ``public`` references; at the close the final picks run up to ``private`` (runs 0..public-1
    are reused) and are scored against all ``private`` references (docs/scoring.md §5)."""

    public: int = Field(ge=2, le=4096, description="Runs per submission for the public board.")
    private: int = Field(
        ge=2, le=4096, description="Runs of each final pick, and reference models, in all."
    )

    @model_validator(mode="after")
    def _ordered(self) -> StagedN:
        if self.public > self.private:
            raise ValueError("public must not be larger than private")
        return self


class ScoringConfig(_Strict):
    n_models: int | StagedN = Field(
        32,
        description="N: runs per submission and reference models; or {public: 64, private: 512} "
        "for a cheap public board and the full N for the final picks only.",
    )

    @field_validator("n_models")
    @classmethod
    def _n_range(cls, value: int | StagedN) -> int | StagedN:
        if isinstance(value, int) and not 2 <= value <= 4096:
            raise ValueError("must be between 2 and 4096")
        return value

    @property
    def staged(self) -> bool:
        return isinstance(self.n_models, StagedN)

    @property
    def n_public(self) -> int:
        """Runs per submission at upload (the public board's N)."""
        return self.n_models.public if isinstance(self.n_models, StagedN) else self.n_models

    @property
    def n_references(self) -> int:
        """Reference models trained, and runs of a final pick (the private board's N)."""
        return self.n_models.private if isinstance(self.n_models, StagedN) else self.n_models

    def min_runs_for(self, n: int) -> int:
        """Runs within budget needed out of ``n`` under over_budget=drop."""
        return min(n, self.min_runs) if self.min_runs is not None else max(2, n // 2)

    rules: Literal["official", "exact"] = Field(
        "official", description="ε rule family (docs/scoring.md §4)."
    )
    delta: float = Field(1e-5, ge=0, lt=1)
    epsilon_cap: float = Field(50.0, gt=0)
    budget_fraction: float = Field(0.10, gt=0, le=100)
    budget_floor_seconds: float = Field(0.0, ge=0)
    grace_fraction: float = Field(0.10, ge=0)
    grace_min_seconds: float = Field(1.0, ge=0)
    timing_repeats: int = Field(
        3,
        ge=1,
        le=20,
        description="Warm timings of the original training; the median is T_orig (at least 3 "
        "are taken whatever this says).",
    )
    clock: Literal["cpu", "wall"] = Field(
        "cpu",
        description="What a run's time is on CPU hardware classes: the CPU time of its sandbox "
        "(every thread and process it started; fair on a busy host) or wall time (the 2023 rule). "
        "GPU classes always use wall time with the device held exclusively (docs/scoring.md §1).",
    )
    over_budget: Literal["fail", "drop"] = Field(
        "fail",
        description="A run over budget fails the submission (fail), or counts as the original "
        "model, unchanged (drop): every entry is scored at the board's N either way.",
    )
    min_runs: int | None = Field(None, ge=2, description="With over_budget=drop; default N/2.")
    bootstrap_resamples: int = Field(1000, ge=10, le=100_000)

    @property
    def effective_min_runs(self) -> int:
        return self.min_runs_for(self.n_public)


class ExecutionConfig(_Strict):
    """How the work is fanned out over the workers (no effect on the numbers)."""

    runs_per_chunk: int = Field(
        8, ge=1, le=4096, description="A submission's N runs go to workers in chunks of this size."
    )
    references_per_chunk: int = Field(
        8,
        ge=1,
        le=4096,
        description="Reference models per preparation chunk (trained batched "
        "on one device where the architecture allows it).",
    )
    fail_fast: bool = Field(
        True,
        description="Run a submission's first chunk (its first `fail_fast_runs` runs) alone; the "
        "other chunks start only if it passed (no crash, no invalid model, no run over budget "
        "under the fail policy).",
    )
    fail_fast_runs: int = Field(
        1,
        ge=1,
        le=4096,
        description="Runs in that first chunk: the probe every other worker waits for (small, "
        "so that the others start soon; the later chunks have `runs_per_chunk`).",
    )
    batched_references: bool = Field(
        True,
        description="Train a chunk's references together (torch.func vmap) when the "
        "architecture allows it (no BatchNorm, SGD); the same models as one by one.",
    )
    hardware_class: str | None = Field(
        None,
        max_length=128,
        description="The hardware class that prepares and scores (e.g. cpu-2t); default: that of "
        "the worker that takes the preparation.",
    )


class LimitsConfig(_Strict):
    max_daily_submissions: int = Field(
        10, ge=1, description="Per participant or team, per UTC day."
    )
    max_total_submissions: int | None = Field(
        None, ge=1, description="Per participant or team over the competition (or phase)."
    )
    max_final_submissions: int = Field(2, ge=1, le=20, description="Final picks per entrant.")
    max_team_size: int = Field(5, ge=1, le=1000)
    max_device_hours_per_day: float | None = Field(
        None,
        gt=0,
        le=10_000,
        description="Compute quota per participant or team per UTC day, in device-hours (one "
        "worker's GPU or cores for an hour); none by default.",
    )
    max_upload_bytes: int | None = Field(None, ge=1, description="Default: the platform setting.")
    max_unpacked_bytes: int = Field(
        20 << 20, ge=1024, le=1 << 34, description="What a .zip submission may unpack to."
    )
    max_files: int = Field(200, ge=1, le=10_000, description="Files in a .zip submission.")
    memory_mb: int = Field(
        4096, ge=256, le=1 << 20, description="Memory limit of one run's sandbox."
    )
    setup_timeout_seconds: float = Field(
        300.0,
        gt=0,
        le=3600,
        description="Kept so that older bundles load; no longer used: a submission's top-level "
        "code (notebook cells) is on the run's clock, under the same budget as unlearning() "
        "(docs/scoring.md §2).",
    )


class PhaseConfig(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    start: datetime
    end: datetime | None = Field(None, description="Open-ended when omitted.")
    max_daily_submissions: int | None = Field(None, ge=1, description="Overrides limits.")
    max_total_submissions: int | None = Field(None, ge=1, description="Overrides limits.")
    leaderboard: str | None = Field(
        None, description="The leaderboard this phase feeds (default: its own, by its name)."
    )

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    @property
    def board(self) -> str:
        return self.leaderboard or self.name


PLATFORM_PACKAGES = ("numpy", "safetensors")  # what the platform's code in a sandbox needs as is


class RuntimeConfig(_Strict):
    """Packages a competition's sandboxes have beyond the platform's (torch, numpy,
    safetensors and their dependencies), resolved at preparation (worker/runtime.py). It may
    name its own torch (and torchvision): the sandboxes then import that torch instead; the
    worker still trains the original and the references with its own."""

    packages: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="pip requirement strings, e.g. einops==0.8.2 or 'timm>=1,<2'.",
    )

    @field_validator("packages")
    @classmethod
    def _requirements(cls, value: list[str]) -> list[str]:
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.utils import canonicalize_name

        for text in value:
            try:
                req = Requirement(text)
            except InvalidRequirement as exc:
                raise ValueError(f"{text!r} is not a pip requirement ({exc})") from None
            if req.url:
                raise ValueError(f"{text!r}: name a package and version, not a URL")
            if canonicalize_name(req.name) in PLATFORM_PACKAGES:
                raise ValueError(
                    f"{req.name} is the platform's own (given in every sandbox, which needs it "
                    "as it is); list other packages, or your own torch and torchvision"
                )
        return value


class LeaderboardConfig(_Strict):
    public_fraction: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="Share of the forget examples scored on the public leaderboard; the rest "
        "make the private one, published after the close.",
    )


DEFAULT_RULES = (
    "One account per person; teams merge only within the limits. Submit your own code. "
    "Do not try to read the hidden data or to leave the sandbox. The organizers may "
    "disqualify entries that break these rules."
)


class CompetitionConfig(_Strict):
    slug: str
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    seed: int = Field(0, ge=0, le=2**63 - 1)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=MLPModel)
    recipe: RecipeConfig = Field(default_factory=RecipeConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    leaderboard: LeaderboardConfig = Field(default_factory=LeaderboardConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    validity: ValidityConfig = Field(default_factory=ValidityConfig)
    phases: list[PhaseConfig] = Field(
        default_factory=list,
        description="Empty: one open-ended phase while the competition is open.",
    )
    allowed_uploads: list[Literal["py", "ipynb", "zip"]] = Field(
        default_factory=lambda: ["py", "ipynb", "zip"],  # type: ignore[arg-type]  # pydantic's Literal list
        min_length=1,
    )
    rules: str = Field(DEFAULT_RULES, description="Participation rules (Markdown) to accept.")
    open_when_ready: bool = Field(
        False,
        description="Take submissions from creation and open as soon as preparation ends "
        "(demos and tests); otherwise an organizer prepares and opens it.",
    )
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
    """The seeded demo: sklearn's bundled 8×8 digits, a small MLP, N = 64 public / 512 private."""
    return CompetitionConfig(
        slug="digits-demo",
        title="Digits demo: forget 100 handwritten digits",
        description=(
            "Forget a random sample of 100 training images of scikit-learn's bundled 8x8 digits "
            "(1,797 images, 10 classes) from a small MLP. Scored with the NeurIPS 2023 metric: "
            "64 runs of every submission against 64 models retrained without them; at the close "
            "the final picks run 512 times against 512 for the private board."
        ),
        seed=2023,
        # staged N picked from bench/staged.py (docs/capacity.md): at N = 64 the baselines rank
        # as at N = 512 (Kendall tau 1.0; 0.93 at N = 32)
        scoring=ScoringConfig(n_models=StagedN(public=64, private=512), budget_floor_seconds=3.0),
        execution=ExecutionConfig(references_per_chunk=64),  # small models: batch many
        open_when_ready=True,
    )
