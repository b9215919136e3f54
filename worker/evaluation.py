"""Evaluate returned weights with the organizer's own model class, outside the participant's process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from worker.nets import build_model
from worker.problem import Problem
from worker.training import ModelOutputs, evaluate

MESSAGE_LIMIT = 500


class InvalidOutput(Exception):
    """The returned weights cannot be used; the message is shown to the participant."""


def load_returned(path: Path, spec: dict[str, Any]) -> torch.nn.Module:
    model = build_model(spec)
    expected = sum(t.numel() * 8 for t in model.state_dict().values())  # float64 at most
    if path.stat().st_size > expected + (1 << 20):
        raise InvalidOutput(
            f"the returned weights are {path.stat().st_size} bytes, far more than the model's own; "
            "return the model you were given (same architecture)"
        )
    try:
        state = load_file(str(path))
    except Exception as exc:  # noqa: BLE001
        raise InvalidOutput(
            f"the returned weights could not be read: {exc}"[:MESSAGE_LIMIT]
        ) from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InvalidOutput(
            f"the returned weights do not fit the original architecture: {exc}"[:MESSAGE_LIMIT]
        ) from None
    if not all(
        torch.isfinite(p).all() for p in model.state_dict().values() if p.is_floating_point()
    ):
        raise InvalidOutput("the returned weights contain NaN or inf")
    return model


def evaluate_returned(
    path: Path, spec: dict[str, Any], problem: Problem, device: torch.device
) -> ModelOutputs:
    model = load_returned(path, spec).to(device)
    outputs = evaluate(model, problem, device)
    if not np.all(np.isfinite(outputs.forget_logits)):
        raise InvalidOutput("the returned model outputs NaN or inf on some forget examples")
    return outputs
