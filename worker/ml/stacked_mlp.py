"""Train many :class:`worker.ml.models.mlp.MLP` models at once with stacked weights and batched matrix
products (``torch.baddbmm``), forward and backward written out by hand.

The generic batched path (:mod:`worker.ml.batched`, ``torch.func`` + ``vmap``) spends most
of its time outside the matrix products on a small MLP: a softmax over 10 classes on the last
axis, a boolean ReLU mask, a separate weight-decay pass. Here every model's weights live in one
flat buffer (so the SGD update is two passes over it), activations are kept feature-major,
``(models, features, batch)``, so the softmax runs over a middle axis, ReLU's backward is
``threshold_backward``, and the momentum update and the ``1/batch`` of the mean loss ride in the
gradient products (``baddbmm``'s ``beta`` and ``alpha``).

Each model still gets exactly what :func:`worker.ml.training.train_model` gives it: its own
initial weights, the data order of a generator seeded with its seed, cross-entropy (optionally
class-weighted) with a mean over the batch, and PyTorch's SGD rule (momentum without dampening,
weight decay added to the gradient). Results match the one-by-one path up to floating-point
summation order (``tests/unit/worker/test_batched_training.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.competition_config import RecipeConfig
from worker.ml.models.mlp import MLP
from worker.ml.problem import Tensors
from worker.ml.training import lr_at


def is_plain_mlp(model: nn.Module) -> bool:
    """An organizer's MLP: only Linear layers with ReLU between them."""
    return isinstance(model, MLP) and all(
        isinstance(layer, nn.Linear | nn.ReLU) for layer in model.net
    )


@dataclass(frozen=True)
class _StackedLinear:
    """One Linear layer of every model: weights ``(M, out, in)`` and biases ``(M, out, 1)``,
    views into the shared parameter buffer, and the same views of the momentum buffer."""

    weight: torch.Tensor
    bias: torch.Tensor
    m_weight: torch.Tensor
    m_bias: torch.Tensor


def _stack(
    models: list[nn.Module], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, list[_StackedLinear]]:
    """Copy every model's Linear layers into one flat parameter buffer (layer by layer, each
    layer contiguous over the models) and allocate its momentum buffer."""
    per_model = [[m for m in model.modules() if isinstance(m, nn.Linear)] for model in models]
    n = len(models)
    shapes = [(lin.out_features, lin.in_features) for lin in per_model[0]]
    total = sum(n * out * inp + n * out for out, inp in shapes)
    params = torch.empty(total, device=device)
    momentum = torch.zeros(total, device=device)
    layers: list[_StackedLinear] = []
    offset = 0
    with torch.no_grad():
        for i, (out, inp) in enumerate(shapes):
            w = slice(offset, offset + n * out * inp)
            offset = w.stop
            b = slice(offset, offset + n * out)
            offset = b.stop
            layer = _StackedLinear(
                params[w].view(n, out, inp),
                params[b].view(n, out, 1),
                momentum[w].view(n, out, inp),
                momentum[b].view(n, out, 1),
            )
            layer.weight.copy_(torch.stack([lins[i].weight for lins in per_model]))
            layer.bias.copy_(torch.stack([lins[i].bias for lins in per_model]).unsqueeze(2))
            layers.append(layer)
    return params, momentum, layers


def train_mlps_stacked(
    models: list[nn.Module],
    seeds: list[int],
    data: Tensors,
    recipe: RecipeConfig,
    device: torch.device,
    weight: torch.Tensor | None = None,
) -> list[nn.Module]:
    """Train plain MLPs (:func:`is_plain_mlp`, already initialised, SGD recipe) together;
    ``weight`` is the loss's class weights or None. Returns them trained, in eval mode."""
    if recipe.optimizer != "sgd" or not all(is_plain_mlp(m) for m in models):
        raise ValueError("stacked training takes plain MLPs and the SGD optimizer")
    models = [m.to(device) for m in models]
    params, momentum, layers = _stack(models, device)
    n_models = len(models)
    x, y = data.x.to(device).flatten(1), data.y.to(device)
    weight = weight.to(device) if weight is not None else None
    n = len(data)
    gens = [torch.Generator().manual_seed(seed) for seed in seeds]  # as train_model's
    first_step = True
    with torch.no_grad():
        for epoch in range(recipe.epochs):
            lr = lr_at(recipe, epoch)
            orders = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)
            for start in range(0, n, recipe.batch_size):
                idx = orders[:, start : start + recipe.batch_size].reshape(-1)
                b = idx.numel() // n_models
                inputs, logits = _forward(x.index_select(0, idx).view(n_models, b, -1), layers)
                labels = y.index_select(0, idx).view(n_models, 1, b)
                dz, scale = _output_gradient(logits, labels, weight)
                # momentum buffer ← momentum · buffer + gradient (PyTorch's SGD; the first step
                # takes the gradient as it is)
                _backward(layers, inputs, dz, 0.0 if first_step else recipe.momentum, scale)
                # weight decay joins the gradient (and so the buffer), then the step
                momentum.add_(params, alpha=recipe.weight_decay)
                params.add_(momentum, alpha=-lr)
                first_step = False
        return _write_back(models, layers)


def _forward(batch: torch.Tensor, layers: list) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Feature-major forward pass over (M, batch, features): each layer's input and the logits,
    all (M, features, batch)."""
    h = batch.transpose(1, 2)
    inputs = [h]
    for i, layer in enumerate(layers):
        h = torch.baddbmm(layer.bias, layer.weight, h)
        if i < len(layers) - 1:
            h.relu_()
            inputs.append(h)
    return inputs, h


def _output_gradient(
    logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None
) -> tuple[torch.Tensor, float]:
    """d(mean cross-entropy)/d(logits) = (softmax - one-hot) / batch, or class-weighted;
    returned unscaled, with the scale the backward pass applies."""
    dz = torch.softmax(logits, 1)
    dz.scatter_add_(1, labels, torch.full(labels.shape, -1.0, device=logits.device))
    if weight is None:
        return dz, 1.0 / labels.shape[2]
    w = weight[labels]
    dz.mul_(w / w.sum(2, keepdim=True))
    return dz, 1.0


def _backward(
    layers: list, inputs: list[torch.Tensor], dz: torch.Tensor, beta: float, scale: float
) -> None:
    """Gradients into the momentum buffers (``beta``: the momentum, 0 on the first step)."""
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        torch.baddbmm(
            layer.m_weight,
            dz,
            inputs[i].transpose(1, 2),
            beta=beta,
            alpha=scale,
            out=layer.m_weight,
        )
        bias_grad = dz.sum(2, keepdim=True)
        if beta:
            layer.m_bias.mul_(beta).add_(bias_grad, alpha=scale)
        else:
            torch.mul(bias_grad, scale, out=layer.m_bias)
        if i > 0:
            dh = torch.bmm(layer.weight.transpose(1, 2), dz)
            dz = torch.ops.aten.threshold_backward(dh, inputs[i], 0)


def _write_back(models: list[nn.Module], layers: list) -> list[nn.Module]:
    trained = []
    for k, model in enumerate(models):
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        for layer, linear in zip(layers, linears, strict=True):
            linear.weight.copy_(layer.weight[k])
            linear.bias.copy_(layer.bias[k, :, 0])
        trained.append(model.eval())
    return trained
