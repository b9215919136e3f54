"""Helpers of the multi-file starter: imported by main.py as a top-level module."""

import time

import torch
from einops import reduce  # from the competition's runtime (runtime.packages)
from torch import nn


def reset_head(net: nn.Module) -> None:
    """Re-initialise the last linear layer (the classifier), seeded by the platform's seed,
    and scale it down to the size of the old one's mean weight (einops, from the runtime)."""
    last = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
    old = reduce(last.weight.detach().abs(), "classes features -> ()", "mean")
    last.reset_parameters()
    with torch.no_grad():
        last.weight.mul_(old / last.weight.abs().mean().clamp(min=1e-8))


def finetune(net: nn.Module, loader, deadline: float, epochs: int) -> None:
    device = next(net.parameters()).device
    optimizer = torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    net.train()
    for _ in range(epochs):
        for inputs, targets in loader:
            if time.perf_counter() > deadline:
                return
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(inputs.to(device)), targets.to(device)).backward()
            optimizer.step()
