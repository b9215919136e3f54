"""A competition's model and training recipe (the ``model`` and ``recipe`` sections).

A model is a Python module's builder called with parameters: either one of the platform's
built-ins (``name: mlp | cnn | resnet18``, whose parameters are the section's other keys), or
the organizer's own module from the competition's bundle (``module: model.py``, ``builder``,
``params``). Both go through the same loader on the worker (:mod:`worker.ml.nets`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

MODULE_FILE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\.py$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_MODULE_BYTES = 256 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MLPModel(_Strict):
    name: Literal["mlp"] = "mlp"
    hidden: list[int] = Field(default_factory=lambda: [128], min_length=1, max_length=8)

    @field_validator("hidden")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(h < 1 or h > 16384 for h in value):
            raise ValueError("every hidden layer width must be between 1 and 16384")
        return value


class CNNModel(_Strict):
    """Small CNN: per entry of ``channels`` a 3x3 conv + ReLU + 2x2 max-pool, then one hidden layer."""

    name: Literal["cnn"] = "cnn"
    channels: list[int] = Field(default_factory=lambda: [32, 64], min_length=1, max_length=6)
    hidden: int = Field(128, ge=1, le=16384)


class ResNet18Model(_Strict):
    """ResNet-18 adapted to 32x32 inputs (3x3 stem, no max-pool), as in CIFAR work."""

    name: Literal["resnet18"] = "resnet18"
    width: int = Field(64, ge=4, le=256, description="Channels of the first stage.")


class ModuleModel(_Strict):
    """The organizer's model: ``builder(**params)`` from a module of the competition's bundle.

    The builder returns a ``torch.nn.Module``; it may also take ``input_shape`` (the shape of
    one example, e.g. [3, 32, 32]) and ``n_classes``, which the platform passes when the
    parameters do not set them."""

    name: Literal["module"] = "module"
    module: str = Field(
        "model.py", description="The module's file, at the top of the competition's bundle."
    )
    builder: str = Field("build_model", description="The function in it that builds the model.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments of the builder (JSON values)."
    )
    source: str | None = Field(
        None,
        description="Set by the platform from the bundle's module file (never written by hand).",
        max_length=MAX_MODULE_BYTES,
    )

    @field_validator("module")
    @classmethod
    def _module(cls, value: str) -> str:
        if not MODULE_FILE.match(value):
            raise ValueError(
                "must be a Python file at the top of the bundle, like model.py (letters, digits "
                "and _; no folders)"
            )
        return value

    @field_validator("builder")
    @classmethod
    def _builder(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError("must be the name of a function in the module, like build_model")
        return value


def _model_name(value: object) -> str:
    if isinstance(value, dict):
        if "module" in value and "name" not in value:
            return "module"
        return str(value.get("name", "mlp"))  # `name` defaults to mlp
    return str(getattr(value, "name", "mlp"))


ModelConfig = Annotated[
    Annotated[MLPModel, Tag("mlp")]
    | Annotated[CNNModel, Tag("cnn")]
    | Annotated[ResNet18Model, Tag("resnet18")]
    | Annotated[ModuleModel, Tag("module")],
    Discriminator(
        _model_name,
        custom_error_type="unknown_model",
        custom_error_message="model.name must be one of: mlp, cnn, resnet18 (built-ins), or "
        "set model.module to the bundle's own module (e.g. module: model.py)",
    ),
]
MODEL_NAMES = ("mlp", "cnn", "resnet18", "module")
BUILTIN_MODELS = ("mlp", "cnn", "resnet18")


class AugmentConfig(_Strict):
    """Data augmentation of image batches while training the original and the references
    (not of the loaders handed to ``unlearning``). Seeded like the rest of training."""

    crop_padding: int = Field(
        0, ge=0, le=64, description="Random crop after zero-padding each side by this many pixels."
    )
    horizontal_flip: bool = Field(False, description="Flip each image left-right with p = 1/2.")

    @property
    def active(self) -> bool:
        return self.crop_padding > 0 or self.horizontal_flip


class RecipeConfig(_Strict):
    epochs: int = Field(30, ge=1, le=10_000)
    batch_size: int = Field(64, ge=1, le=65_536)
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    schedule: Literal["constant", "cosine", "step"] = Field(
        "constant", description="Learning-rate schedule over the epochs."
    )
    step_epochs: int = Field(10, ge=1, description="schedule: step: decay every this many epochs.")
    step_gamma: float = Field(0.1, gt=0, le=1, description="schedule: step: decay factor.")
    class_weighting: Literal["none", "balanced"] = Field(
        "none", description="balanced: weight the loss by inverse class frequency."
    )
    label_smoothing: float = Field(
        0.0, ge=0, lt=1, description="Label smoothing of the cross-entropy loss (0: none)."
    )
    augment: AugmentConfig = Field(
        default_factory=AugmentConfig, description="Image augmentation (none by default)."
    )
