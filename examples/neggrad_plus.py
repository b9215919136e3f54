"""Baseline: NegGrad+ (Kurmanji et al., 2023): gradient descent on the retain set combined with
gradient ascent on the forget set, ``loss = β·CE(retain) − (1 − β)·CE(forget)``.

Epochs adapt to the run's budget (ARENA_BUDGET_SECONDS).
"""

import itertools
import os
import time

import torch
from torch import nn

BETA = 0.95  # weight of the retain loss
MAX_EPOCHS = 5
SAFETY = 0.6

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
    for _ in range(MAX_EPOCHS):
        for (x_r, y_r), (x_f, y_f) in zip(retain_loader, itertools.cycle(forget_loader)):
            if spent() > SAFETY * budget:  # checked every batch, not per epoch
                break
            x_r, y_r, x_f, y_f = x_r.to(device), y_r.to(device), x_f.to(device), y_f.to(device)
            optimizer.zero_grad()
            loss = BETA * loss_fn(net(x_r), y_r) - (1 - BETA) * loss_fn(net(x_f), y_f)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            optimizer.step()
        if spent() > SAFETY * budget:
            break
    net.eval()
    return net
