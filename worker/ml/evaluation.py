"""Evaluate returned weights with the organizer's own model class, outside the participant's process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from worker.ml.nets import build_model
from worker.ml.problem import Problem
from worker.ml.training import ModelOutputs, evaluate


class InvalidOutput(Exception):
    """The returned weights cannot be used; the message is shown to the participant."""


def load_returned(path: Path, spec: dict[str, Any]) -> torch.nn.Module:
    """The returned weights in the organizer's model, loaded strictly. Messages name only the
    model's own parameters: key names and shapes chosen by participant code could carry hidden
    data, so they are counted, never shown."""
    model = build_model(spec)
    own = model.state_dict()
    expected = sum(t.numel() * 8 for t in own.values())  # float64 at most
    if path.stat().st_size > expected + (1 << 20):
        raise InvalidOutput(
            f"the returned weights are {path.stat().st_size} bytes, far more than the model's own; "
            "return the model you were given (same architecture)"
        )
    try:
        state = load_file(str(path))
    except Exception:  # noqa: BLE001 - whatever the parser says, its text is not shown
        raise InvalidOutput(
            "the returned weights could not be read (not a safetensors file)"
        ) from None
    missing = [k for k in own if k not in state]
    unexpected = sum(1 for k in state if k not in own)
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} of the model's tensors ({_names(missing)})")
    if unexpected:
        problems.append(f"{unexpected} tensors the model does not have")
    if wrong:
        problems.append(
            "wrong shape for "
            + ", ".join(f"{k} (expected {tuple(own[k].shape)})" for k in wrong[:5])
        )
    if problems:
        raise InvalidOutput(
            "the returned weights do not fit the original architecture: " + "; ".join(problems)
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        raise InvalidOutput(
            "the returned weights do not fit the original architecture (a tensor's type cannot "
            "be loaded into the model)"
        ) from None
    if not all(
        torch.isfinite(p).all() for p in model.state_dict().values() if p.is_floating_point()
    ):
        raise InvalidOutput("the returned weights contain NaN or inf")
    return model


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:5])
    return shown + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def evaluate_returned(
    path: Path, spec: dict[str, Any], problem: Problem, device: torch.device
) -> ModelOutputs:
    model = load_returned(path, spec).to(device)
    outputs = evaluate(model, problem, device)
    if not np.all(np.isfinite(outputs.forget_logits)):
        raise InvalidOutput("the returned model outputs NaN or inf on some forget examples")
    return outputs
