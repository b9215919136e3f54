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


def unlearning(net, retain_loader, forget_loader, val_loader):
    budget = float(os.environ.get("ARENA_BUDGET_SECONDS", "60"))
    start = time.perf_counter()
    device = next(net.parameters()).device
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    net.train()
    for _ in range(EPOCHS):
        for inputs, targets in retain_loader:
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            loss_fn(net(inputs), targets).backward()
            optimizer.step()
        if time.perf_counter() - start > SAFETY * budget:
            break
    net.eval()
    return net
