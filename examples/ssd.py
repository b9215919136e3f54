"""Baseline: Selective Synaptic Dampening (Foster et al., AAAI 2024).

Estimates each parameter's importance (the diagonal Fisher information: mean squared gradient)
on the forget set and on the retain set, and dampens the parameters that matter much more for
the forget set: where I_forget > ALPHA · I_retain, the weight is multiplied by
min(LAMBDA · I_retain / I_forget, 1). No training, so it is fast.

Note: SSD adds no randomness of its own. Its N runs differ only because each run's loaders
shuffle differently, which changes the batch-wise Fisher estimates a little. A method whose runs
all return the same model is penalised by the metric's degenerate-range rule (every forget
example gets the maximal ε, the score is 0, however good the single model), so a deterministic
method must add randomness (set NOISE > 0 here) to be scored as a distribution of models.
"""

import torch
from torch import nn

ALPHA = 10.0  # selection threshold
LAMBDA = 1.0  # dampening strength
NOISE = 0.0  # std of Gaussian noise added to the dampened weights (0: deterministic)


def _importance(net, loader, device):
    loss_fn = nn.CrossEntropyLoss()
    imp = {n: torch.zeros_like(p) for n, p in net.named_parameters()}
    batches = 0
    for x, y in loader:
        net.zero_grad()
        loss_fn(net(x.to(device)), y.to(device)).backward()
        for n, p in net.named_parameters():
            if p.grad is not None:
                imp[n] += p.grad.detach() ** 2
        batches += 1
    return {n: v / max(batches, 1) for n, v in imp.items()}


def unlearning(net, retain_loader, forget_loader, val_loader):
    device = next(net.parameters()).device
    net.eval()
    forget_imp = _importance(net, forget_loader, device)
    retain_imp = _importance(net, retain_loader, device)
    with torch.no_grad():
        for n, p in net.named_parameters():
            selected = forget_imp[n] > ALPHA * retain_imp[n]
            factor = torch.clamp(LAMBDA * retain_imp[n] / (forget_imp[n] + 1e-12), max=1.0)
            p[selected] *= factor[selected]
            if NOISE > 0:
                p[selected] += NOISE * torch.randn_like(p[selected])
    net.zero_grad()
    return net
