"""Baseline: fine-tune on the retain set (the 2023 starter kit's method), within the time budget.

Catastrophic forgetting of the forget set is hoped for, not enforced. The number of epochs
adapts to ARENA_BUDGET_SECONDS, the per-run budget the platform sets.
"""

import os
import time

import torch
from torch import nn

EPOCHS = 5
SAFETY = 0.6  # stop when this share of the budget is spent

# The platform's clock (ARENA_CLOCK): "cpu", the CPU time of this run's process, which started
# with this file's import; "wall", the time since the import. Both start before this line runs.
CLOCK = os.environ.get("ARENA_CLOCK", "wall")
_IMPORTED = time.perf_counter()


def spent():
    """Seconds of this run's budget used so far (the import included)."""
    return time.process_time() if CLOCK == "cpu" else time.perf_counter() - _IMPORTED


def unlearning(net, retain_loader, forget_loader, val_loader):
    budget = float(os.environ.get("ARENA_BUDGET_SECONDS", "60"))
    device = next(net.parameters()).device
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    net.train()
    for _ in range(EPOCHS):
        for inputs, targets in retain_loader:
            if spent() > SAFETY * budget:  # checked every batch, not per epoch
                break
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            loss_fn(net(inputs), targets).backward()
            optimizer.step()
        if spent() > SAFETY * budget:
            break
    net.eval()
    return net
