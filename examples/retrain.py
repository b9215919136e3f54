"""Baseline: retrain from scratch on the retain set (the oracle, when the budget allows it).

Re-initialises every layer and trains on the retain set only, stopping early if the time
budget (ARENA_BUDGET_SECONDS) runs short. On the digits demo a full retraining fits the budget,
so its outputs are distributed almost like the reference models'.
"""

import os
import time

import torch
from torch import nn

EPOCHS = 30
SAFETY = 0.7


def unlearning(net, retain_loader, forget_loader, val_loader):
    budget = float(os.environ.get("ARENA_BUDGET_SECONDS", "60"))
    start = time.perf_counter()
    device = next(net.parameters()).device
    for module in net.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
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
