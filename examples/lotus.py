"""Baseline: LoTUS (Spartalis et al., CVPR 2025), written from its description.

The original model is distilled into itself with *smoothed* targets on the forget set (a
Gumbel-softmax of the teacher's logits, whose temperature grows with the gap between the
model's accuracy on the forget set and on the validation set) and hard labels on a sample of
the retain set; training stops once forget accuracy has fallen to validation accuracy, or the
budget (ARENA_BUDGET_SECONDS) runs short.
"""

import copy
import os
import time

import torch
from torch import nn
from torch.nn import functional as F

MAX_EPOCHS = 8
RETAIN_SHARE = 0.3  # share of the retain batches used per epoch
SAFETY = 0.6

# The platform's clock (ARENA_CLOCK): "cpu", the CPU time of this run's process, which started
# with this file's import; "wall", the time since the import. Both start before this line runs.
CLOCK = os.environ.get("ARENA_CLOCK", "wall")
_IMPORTED = time.perf_counter()


def spent():
    """Seconds of this run's budget used so far (the import included)."""
    return time.process_time() if CLOCK == "cpu" else time.perf_counter() - _IMPORTED


@torch.no_grad()
def _accuracy(model, loader, device):
    model.eval()
    correct = total = 0
    for x, y in loader:
        correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
        total += len(y)
    return correct / max(total, 1)


def unlearning(net, retain_loader, forget_loader, val_loader):
    budget = float(os.environ.get("ARENA_BUDGET_SECONDS", "60"))
    device = next(net.parameters()).device
    teacher = copy.deepcopy(net).eval()
    val_acc = _accuracy(net, val_loader, device)
    gap = max(0.0, _accuracy(net, forget_loader, device) - val_acc)
    tau = 1.0 + 10.0 * gap  # more smoothing when the forget set is remembered better
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    ce = nn.CrossEntropyLoss()
    n_retain = max(1, int(RETAIN_SHARE * len(retain_loader)))
    for _ in range(MAX_EPOCHS):
        net.train()
        for x_f, _ in forget_loader:
            if spent() > SAFETY * budget:  # checked every batch, not per epoch
                break
            x_f = x_f.to(device)
            with torch.no_grad():
                target = F.gumbel_softmax(teacher(x_f), tau=tau, hard=False)
            optimizer.zero_grad()
            (-(target * F.log_softmax(net(x_f), dim=1)).sum(1).mean()).backward()
            optimizer.step()
        for i, (x_r, y_r) in enumerate(retain_loader):
            if spent() > SAFETY * budget:  # checked every batch, not per epoch
                break
            if i >= n_retain:
                break
            optimizer.zero_grad()
            ce(net(x_r.to(device)), y_r.to(device)).backward()
            optimizer.step()
        if _accuracy(net, forget_loader, device) <= val_acc or spent() > SAFETY * budget:
            break
    net.eval()
    return net
