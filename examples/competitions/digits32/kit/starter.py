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


def unlearning(net, retain_loader, forget_loader, val_loader):
    budget = float(os.environ.get("ARENA_BUDGET_SECONDS", "60"))
    start = time.perf_counter()
    device = next(net.parameters()).device
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    net.train()
    for _ in range(EPOCHS):
        for inputs, targets in retain_loader:
            if time.perf_counter() - start > SAFETY * budget:
                break
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            loss_fn(net(inputs), targets).backward()
            optimizer.step()
    net.eval()
    return net
