"""Built-in model `mlp` (model: {name: mlp, hidden: [...]}): a module like any organizer's."""

from __future__ import annotations

import math

import torch
from torch import nn


class MLP(nn.Module):
    """A plain multi-layer perceptron: flattened inputs → hidden (ReLU) … → class logits."""

    def __init__(self, n_features: int, n_classes: int, hidden: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, ...) -> (batch, n_classes)
        return self.net(x.flatten(1))


def build_model(input_shape: list[int], n_classes: int, hidden: list[int]) -> nn.Module:
    return MLP(math.prod(int(d) for d in input_shape), int(n_classes), [int(h) for h in hidden])
