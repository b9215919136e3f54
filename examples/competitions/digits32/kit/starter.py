"""Digits32 starter: fine-tune on the retain set within the time budget (the 2023 starter
kit's baseline). Try it on the dev split: `arena score-local starter.py --kit .`; submit it:
`arena submit digits32 starter.py`.

`net` is the organizers' SmallResNet (model.py in this folder), trained on all of train;
return it (or its state dict) with the same architecture.
"""

import os
import time

import torch
from torch import nn

EPOCHS = 3
SAFETY = 0.6  # stop when this share of the per-run budget is spent

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
            if spent() > SAFETY * budget:
                break
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            loss_fn(net(inputs), targets).backward()
            optimizer.step()
    net.eval()
    return net
