"""Baseline: SCRUB (Kurmanji et al., 2023, "Towards Unbounded Machine Unlearning").

A student (the model) is distilled from a frozen teacher (the original model): "max" steps move
the student away from the teacher on the forget set (maximise their KL divergence), "min" steps
keep it close to the teacher on the retain set (KL plus cross-entropy). Epochs adapt to
ARENA_BUDGET_SECONDS.
"""

import copy
import itertools
import os
import time

import torch
from torch import nn
from torch.nn import functional as F

TEMPERATURE = 4.0
ALPHA = 0.5  # weight of the KL term in min steps
MAX_STEPS = 2  # epochs with max steps
EPOCHS = 6
SAFETY = 0.6

# The platform's clock (ARENA_CLOCK): "cpu", the CPU time of this run's process, which started
# with this file's import; "wall", the time since the import. Both start before this line runs.
CLOCK = os.environ.get("ARENA_CLOCK", "wall")
_IMPORTED = time.perf_counter()


def spent():
    """Seconds of this run's budget used so far (the import included)."""
    return time.process_time() if CLOCK == "cpu" else time.perf_counter() - _IMPORTED


def _kl(student_logits, teacher_logits):
    t = TEMPERATURE
    return F.kl_div(
        F.log_softmax(student_logits / t, dim=1),
        F.softmax(teacher_logits / t, dim=1),
        reduction="batchmean",
    ) * (t * t)


def unlearning(net, retain_loader, forget_loader, val_loader):
    budget = float(os.environ.get("ARENA_BUDGET_SECONDS", "60"))
    device = next(net.parameters()).device
    teacher = copy.deepcopy(net).eval()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    ce = nn.CrossEntropyLoss()
    for epoch in range(EPOCHS):
        net.train()
        if epoch < MAX_STEPS:
            for x_f, _ in forget_loader:
                if spent() > SAFETY * budget:  # checked every batch, not per epoch
                    break
                x_f = x_f.to(device)
                with torch.no_grad():
                    t_f = teacher(x_f)
                optimizer.zero_grad()
                (-_kl(net(x_f), t_f)).backward()
                optimizer.step()
        for x_r, y_r in itertools.islice(retain_loader, None):
            if spent() > SAFETY * budget:  # checked every batch, not per epoch
                break
            x_r, y_r = x_r.to(device), y_r.to(device)
            with torch.no_grad():
                t_r = teacher(x_r)
            optimizer.zero_grad()
            out = net(x_r)
            (ce(out, y_r) + ALPHA * _kl(out, t_r)).backward()
            optimizer.step()
        if spent() > SAFETY * budget:
            break
    net.eval()
    return net
