"""Built-in model `cnn` (model: {name: cnn, channels: [...], hidden: N}): a module like any
organizer's."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Per entry of ``channels``: 3x3 conv (padding 1) + ReLU + 2x2 max-pool; then a hidden layer."""

    def __init__(
        self, input_shape: tuple[int, int, int], n_classes: int, channels: list[int], hidden: int
    ) -> None:
        super().__init__()
        c, h, w = input_shape
        layers: list[nn.Module] = []
        for out in channels:
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU()]
            if h >= 2 and w >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_model(
    input_shape: list[int], n_classes: int, channels: list[int], hidden: int
) -> nn.Module:
    c, h, w = image_shape(input_shape, "cnn")
    return SmallCNN((c, h, w), int(n_classes), [int(k) for k in channels], int(hidden))


def image_shape(input_shape: list[int], name: str) -> tuple[int, int, int]:
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3:
        raise ValueError(
            f"model {name!r} needs image inputs (channels, height, width); the data have shape {shape}"
        )
    return shape  # type: ignore[return-value]
