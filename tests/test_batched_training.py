"""Batched reference training (torch.func + vmap) gives what training one by one gives."""

from __future__ import annotations

import pytest
import torch

from tests.platform import tiny_config
from worker.batched_training import can_batch, train_models_batched
from worker.nets import build_model
from worker.preparation import init_model, spec_for
from worker.problem import build_problem
from worker.training import evaluate, train_model


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_same_seeds_give_the_same_models_as_the_loop(schedule):
    cfg = tiny_config("batched")
    recipe = cfg.recipe.model_copy(update={"epochs": 8, "schedule": schedule})
    problem = build_problem(cfg)
    spec = spec_for(cfg, problem)
    cpu = torch.device("cpu")
    seeds = [1, 2, 3, 4]
    loop = [train_model(init_model(spec, s), problem.retain, recipe, s, cpu) for s in seeds]
    batched = train_models_batched(
        [init_model(spec, s) for s in seeds], seeds, problem.retain, recipe, cpu
    )
    for a, b in zip(loop, batched, strict=True):
        for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.allclose(pa, pb, atol=1e-4), name
        ea, eb = evaluate(a, problem, cpu), evaluate(b, problem, cpu)
        assert abs(ea.test_acc - eb.test_acc) <= 0.01 and abs(ea.retain_acc - eb.retain_acc) <= 0.01
    # different seeds still give different models
    assert not torch.allclose(batched[0].net[0].weight, batched[1].net[0].weight)


def test_models_with_batch_statistics_or_adam_fall_back_to_the_loop():
    resnet = build_model(
        {"name": "resnet18", "width": 4, "input_shape": [3, 8, 8], "n_classes": 10}
    )
    mlp = build_model({"name": "mlp", "hidden": [8], "input_shape": [4], "n_classes": 3})
    sgd = tiny_config("x-batched").recipe
    assert not can_batch(resnet, sgd) and can_batch(mlp, sgd)
    assert not can_batch(mlp, sgd.model_copy(update={"optimizer": "adam"}))
