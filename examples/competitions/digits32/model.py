"""The organizer's model for digits32: a small ResNet-style network for 32x32 images.

The platform calls ``build_model(**params)`` with the ``model.params`` of competition.yaml,
adding ``input_shape`` (here [1, 32, 32]) and ``n_classes`` (10), to train the original and
the references, to hand ``net`` to your ``unlearning`` and to load what it returns. It may
import torch, numpy, the standard library and the packages of the competition's runtime.
"""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    """Two 3x3 convolutions with batch norm and a shortcut (a 1x1 conv when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SmallResNet(nn.Module):
    def __init__(self, in_channels: int, n_classes: int, width: int, stages: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        blocks, cin = [], width
        for stage in range(stages):
            cout = width * 2**stage
            blocks.append(Block(cin, cout, 1 if stage == 0 else 2))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def build_model(
    input_shape: list[int], n_classes: int, width: int = 16, stages: int = 3
) -> nn.Module:
    return SmallResNet(int(input_shape[0]), int(n_classes), int(width), int(stages))
