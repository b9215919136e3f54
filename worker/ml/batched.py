"""Train many reference models at once on one device, for architectures without batch
statistics: plain MLPs with hand-written stacked-weight products (:mod:`worker.ml.stacked_mlp`,
the fastest), any other such architecture with ``torch.func`` (stacked weights,
``functional_call`` under ``vmap``).

Each model gets exactly what :func:`worker.ml.training.train_model` would give it: the weights
of ``init_model(spec, seed)``, the data order of a generator seeded with its seed, SGD with
momentum and weight decay (PyTorch's update rule), the same learning-rate schedule and class
weights. Results therefore match the one-by-one path up to floating-point summation order
(``tests/unit/worker/test_batched_training.py``). Models with BatchNorm, or the Adam optimizer, are not
batched: callers fall back to the loop (:func:`can_batch`).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from core.competition_config import RecipeConfig
from worker.ml.problem import Tensors
from worker.ml.stacked_mlp import is_plain_mlp, train_mlps_stacked
from worker.ml.training import class_weights, lr_at

Method = Literal["auto", "stacked", "vmap"]


def can_batch(model: nn.Module, recipe: RecipeConfig) -> bool:
    """Batched training needs SGD, no layer that keeps running batch statistics, and neither
    augmentation nor label smoothing (the batched trainers do not apply them)."""
    has_batch_stats = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    plain = not recipe.augment.active and recipe.label_smoothing == 0
    return recipe.optimizer == "sgd" and not has_batch_stats and plain


def train_models_batched(
    models: list[nn.Module],
    seeds: list[int],
    data: Tensors,
    recipe: RecipeConfig,
    device: torch.device,
    method: Method = "auto",
) -> list[nn.Module]:
    """Train ``models`` (same architecture, initialised already) together; returns them
    trained, in eval mode, on ``device``. ``method``: ``auto`` (stacked for a plain MLP, else
    vmap), or one of them by name (the benchmark compares them)."""
    if len(models) != len(seeds) or not models:
        raise ValueError("need one seed per model")
    if not can_batch(models[0], recipe):
        raise ValueError("this model or recipe cannot be trained batched; use the loop")
    weight = class_weights(data.y, recipe, models[0])
    if method == "stacked" or (method == "auto" and is_plain_mlp(models[0])):
        return train_mlps_stacked(models, seeds, data, recipe, device, weight)
    return _train_vmap(models, seeds, data, recipe, device, weight)


def _train_vmap(
    models: list[nn.Module],
    seeds: list[int],
    data: Tensors,
    recipe: RecipeConfig,
    device: torch.device,
    weight: torch.Tensor | None,
) -> list[nn.Module]:
    """Any BatchNorm-free model: per-model gradients with torch.func.vmap, plain SGD steps."""
    models = [m.to(device) for m in models]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    weight = weight.to(device) if weight is not None else None

    def loss(p: dict[str, Any], b: dict[str, Any], x: torch.Tensor, y: torch.Tensor):
        logits = functional_call(base, (p, b), (x,))
        return nn.functional.cross_entropy(logits, y, weight=weight)

    grads_of = vmap(grad(loss))
    x, y = data.x.to(device), data.y.to(device)
    n = len(data)
    gens = []
    for seed in seeds:  # the same data order as worker.ml.training.train_model
        g = torch.Generator()
        g.manual_seed(seed)
        gens.append(g)
    momentum: dict[str, torch.Tensor] | None = None
    for epoch in range(recipe.epochs):
        lr = lr_at(recipe, epoch)
        orders = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)
        for start in range(0, n, recipe.batch_size):
            idx = orders[:, start : start + recipe.batch_size]  # (M, B)
            grads = grads_of(params, buffers, x[idx], y[idx])
            momentum = _sgd_step(params, grads, momentum, recipe, lr)
    trained = []
    for i, model in enumerate(models):
        model.load_state_dict(
            {
                **{k: v[i].detach().clone() for k, v in params.items()},
                **{k: v[i].clone() for k, v in buffers.items()},
            },
            strict=True,
        )
        trained.append(model.eval())
    return trained


def _sgd_step(
    params: dict[str, torch.Tensor],
    grads: dict[str, torch.Tensor],
    momentum: dict[str, torch.Tensor] | None,
    recipe: RecipeConfig,
    lr: float,
) -> dict[str, torch.Tensor] | None:
    """PyTorch's SGD on stacked parameters (weight decay in the gradient, momentum without
    dampening); returns the momentum buffers."""
    with torch.no_grad():
        steps = {k: grads[k] + recipe.weight_decay * params[k] for k in params}
        if recipe.momentum:
            if momentum is None:
                momentum = {k: v.clone() for k, v in steps.items()}
            else:
                for k in momentum:
                    momentum[k].mul_(recipe.momentum).add_(steps[k])
            steps = momentum
        for k in params:
            params[k].sub_(lr * steps[k])
    return momentum
