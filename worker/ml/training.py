"""Training and evaluation with the organizer's recipe (seeded, on the worker's device)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.competition_config import RecipeConfig
from scoring import class_mean_softmax
from worker.ml.augment import augment_batch
from worker.ml.problem import Problem, Tensors
from worker.ml.seeding import seed_everything


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_model(
    model: nn.Module, data: Tensors, recipe: RecipeConfig, seed: int, device: torch.device
) -> nn.Module:
    """Train ``model`` in place on ``data`` by ``recipe``; returns it in eval mode."""
    gen = seed_everything(seed)
    model.to(device).train()
    if recipe.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            model.parameters(),
            lr=recipe.lr,
            momentum=recipe.momentum,
            weight_decay=recipe.weight_decay,
        )
    else:
        opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    x, y = data.x.to(device), data.y.to(device)
    n = len(data)
    weights = class_weights(data.y, recipe, model)
    loss_fn = nn.CrossEntropyLoss(
        weight=weights.to(device) if weights is not None else None,
        label_smoothing=recipe.label_smoothing,
    )
    scheduler = make_scheduler(opt, recipe)
    for _ in range(recipe.epochs):
        order = torch.randperm(n, generator=gen).to(device)
        for start in range(0, n, recipe.batch_size):
            batch = order[start : start + recipe.batch_size]
            opt.zero_grad(set_to_none=True)
            inputs = augment_batch(x[batch], recipe.augment, gen)
            loss_fn(model(inputs), y[batch]).backward()
            opt.step()
        if scheduler is not None:
            scheduler.step()
    return model.eval()


def class_weights(
    labels: torch.Tensor, recipe: RecipeConfig, model: nn.Module
) -> torch.Tensor | None:
    """``balanced``: n / (C · count_c) per class (classes absent from the data get weight 0)."""
    if recipe.class_weighting != "balanced":
        return None
    n_classes = _n_classes(model, labels)
    counts = torch.bincount(labels, minlength=n_classes).double()
    weights = torch.where(counts > 0, len(labels) / (n_classes * counts.clamp(min=1)), 0.0)
    return weights.float()


def _n_classes(model: nn.Module, labels: torch.Tensor) -> int:
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return last[-1].out_features if last else int(labels.max()) + 1


def lr_at(recipe: RecipeConfig, epoch: int) -> float:
    """The learning rate of ``epoch`` as :func:`make_scheduler`'s schedulers give it (closed
    form), for the batched trainers that do not hold a torch optimizer."""
    if recipe.schedule == "cosine":
        return recipe.lr * (1 + math.cos(math.pi * epoch / recipe.epochs)) / 2
    if recipe.schedule == "step":
        return recipe.lr * recipe.step_gamma ** (epoch // recipe.step_epochs)
    return recipe.lr


def make_scheduler(
    opt: torch.optim.Optimizer, recipe: RecipeConfig
) -> torch.optim.lr_scheduler.LRScheduler | None:
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=recipe.epochs)
    if recipe.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, recipe.step_epochs, gamma=recipe.step_gamma)
    return None


def timed_training(
    model: nn.Module, data: Tensors, recipe: RecipeConfig, seed: int, device: torch.device
) -> float:
    """Wall-clock seconds of one training run (synchronised on a GPU)."""
    synchronize(device)
    start = time.perf_counter()
    train_model(model, data, recipe, seed, device)
    synchronize(device)
    return time.perf_counter() - start


@torch.no_grad()
def predict_logits(
    model: nn.Module, data: Tensors, device: torch.device, batch: int = 4096
) -> np.ndarray:
    model.eval()
    out = [
        model(data.x[i : i + batch].to(device)).float().cpu() for i in range(0, len(data), batch)
    ]
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    top = z.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
    return lse - z[np.arange(len(labels)), labels]


@dataclass(frozen=True)
class ModelOutputs:
    """What is stored per model (docs/scoring.md §1): enough to score and rescore without weights."""

    forget_logits: np.ndarray  # (n_forget, C) float32
    forget_loss: np.ndarray  # (n_forget,)
    test_loss: np.ndarray  # (n_test,)
    retain_acc: float
    forget_acc: float
    test_acc: float
    forget_class_softmax: np.ndarray  # (C, C): mean softmax over forget examples of each class
    test_class_softmax: np.ndarray  # (C, C): the same over test examples


def evaluate(model: nn.Module, problem: Problem, device: torch.device) -> ModelOutputs:
    forget_logits = predict_logits(model, problem.forget, device)
    test_logits = predict_logits(model, problem.test, device)
    retain_logits = predict_logits(model, problem.retain, device)
    fy, ty, ry = problem.forget.y.numpy(), problem.test.y.numpy(), problem.retain.y.numpy()
    return ModelOutputs(
        forget_logits=forget_logits,
        forget_loss=cross_entropy(forget_logits, fy),
        test_loss=cross_entropy(test_logits, ty),
        retain_acc=float((retain_logits.argmax(1) == ry).mean()),
        forget_acc=float((forget_logits.argmax(1) == fy).mean()),
        test_acc=float((test_logits.argmax(1) == ty).mean()),
        forget_class_softmax=class_mean_softmax(forget_logits, fy, np.arange(problem.n_classes)),
        test_class_softmax=class_mean_softmax(test_logits, ty, np.arange(problem.n_classes)),
    )
