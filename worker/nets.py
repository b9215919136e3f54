"""The organizers' model architectures. Returned weights are always loaded into these classes."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class MLP(nn.Module):
    """A plain multi-layer perceptron: features → hidden (ReLU) … → class logits."""

    def __init__(self, n_features: int, n_classes: int, hidden: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, n_features) -> (batch, n_classes)
        return self.net(x.flatten(1))


def model_spec(model_cfg: Any, n_features: int, n_classes: int) -> dict[str, Any]:
    """A JSON-able description from which :func:`build_model` rebuilds the architecture."""
    return {
        "name": model_cfg.name,
        "hidden": list(model_cfg.hidden),
        "n_features": n_features,
        "n_classes": n_classes,
    }


def build_model(spec: dict[str, Any]) -> nn.Module:
    if spec["name"] == "mlp":
        return MLP(
            int(spec["n_features"]), int(spec["n_classes"]), [int(h) for h in spec["hidden"]]
        )
    raise ValueError(f"unknown model {spec['name']!r}")
