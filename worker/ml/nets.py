"""The organizers' model architectures (a registry by name). Returned weights are always
loaded into these classes, never into anything the participant defines."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

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


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for small images (e.g. 32x32): 3x3 stem without max-pool, 4 stages of 2 blocks."""

    def __init__(self, in_channels: int, n_classes: int, width: int = 64) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        cin = width
        for stage, cout in enumerate([width, 2 * width, 4 * width, 8 * width]):
            for b in range(2):
                blocks.append(BasicBlock(cin, cout, 2 if (stage > 0 and b == 0) else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))


def _image_shape(spec: dict[str, Any]) -> tuple[int, int, int]:
    shape = tuple(int(d) for d in spec["input_shape"])
    if len(shape) != 3:
        raise ValueError(
            f"model {spec['name']!r} needs image inputs (channels, height, width); the data have shape {shape}"
        )
    return shape  # type: ignore[return-value]


_BUILDERS: dict[str, Callable[[dict[str, Any]], nn.Module]] = {
    "mlp": lambda s: MLP(
        math.prod(int(d) for d in s["input_shape"]),
        int(s["n_classes"]),
        [int(h) for h in s["hidden"]],
    ),
    "cnn": lambda s: SmallCNN(
        _image_shape(s), int(s["n_classes"]), [int(c) for c in s["channels"]], int(s["hidden"])
    ),
    "resnet18": lambda s: ResNet18(_image_shape(s)[0], int(s["n_classes"]), int(s["width"])),
}
REGISTRY = tuple(_BUILDERS)


def model_spec(model_cfg: Any, input_shape: tuple[int, ...], n_classes: int) -> dict[str, Any]:
    """A JSON-able description from which :func:`build_model` rebuilds the architecture."""
    return {
        **model_cfg.model_dump(mode="json"),
        "input_shape": [int(d) for d in input_shape],
        "n_classes": n_classes,
    }


def build_model(spec: dict[str, Any]) -> nn.Module:
    builder = _BUILDERS.get(spec["name"])
    if builder is None:
        raise ValueError(f"unknown model {spec['name']!r}; known: {', '.join(REGISTRY)}")
    if "input_shape" not in spec and "n_features" in spec:  # specs written before input_shape
        spec = {**spec, "input_shape": [int(spec["n_features"])]}
    return builder(spec)
