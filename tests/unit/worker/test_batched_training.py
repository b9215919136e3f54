"""Batched reference training (stacked MLP products, or torch.func + vmap) gives what training
one by one gives."""

from __future__ import annotations

import pytest
import torch

from harness.platform import tiny_config
from worker.ml.batched import can_batch, train_models_batched
from worker.ml.nets import build_model
from worker.ml.preparation import init_model, spec_for
from worker.ml.problem import build_problem
from worker.ml.stacked_mlp import is_plain_mlp, train_mlps_stacked
from worker.ml.training import evaluate, train_model


@pytest.mark.parametrize(
    ("method", "recipe_changes"),
    [
        ("stacked", {"schedule": "constant"}),
        ("stacked", {"schedule": "cosine", "class_weighting": "balanced"}),
        ("stacked", {"schedule": "step", "step_epochs": 3, "momentum": 0.0}),
        ("vmap", {"schedule": "constant"}),
        ("vmap", {"schedule": "cosine", "class_weighting": "balanced"}),
    ],
    ids=[
        "stacked",
        "stacked-cosine-balanced",
        "stacked-step-no-momentum",
        "vmap",
        "vmap-cosine-balanced",
    ],
)
def test_same_seeds_give_the_same_models_as_the_loop(method, recipe_changes):
    cfg = tiny_config("batched")
    recipe = cfg.recipe.model_copy(update={"epochs": 8, "batch_size": 50, **recipe_changes})
    problem = build_problem(cfg)
    spec = spec_for(cfg, problem)
    cpu = torch.device("cpu")
    seeds = [1, 2, 3, 4]
    loop = [train_model(init_model(spec, s), problem.retain, recipe, s, cpu) for s in seeds]
    batched = train_models_batched(
        [init_model(spec, s) for s in seeds], seeds, problem.retain, recipe, cpu, method=method
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


def test_the_stacked_path_takes_plain_mlps_only():
    mlp = build_model({"name": "mlp", "hidden": [8, 8], "input_shape": [2, 2], "n_classes": 3})
    cnn = build_model(
        {"name": "cnn", "channels": [4], "hidden": 8, "input_shape": [1, 4, 4], "n_classes": 3}
    )
    assert is_plain_mlp(mlp) and not is_plain_mlp(cnn)
    recipe = tiny_config("x-stacked").recipe
    with pytest.raises(ValueError, match="plain MLPs"):
        train_mlps_stacked([cnn], [1], None, recipe, torch.device("cpu"))  # type: ignore[arg-type]


def test_a_two_hidden_layer_mlp_on_image_shaped_inputs_matches_the_loop():
    """Inputs with more than one axis are flattened as MLP.forward flattens them."""
    from worker.ml.problem import Tensors

    gen = torch.Generator().manual_seed(0)
    data = Tensors(
        torch.randn(90, 2, 3, 3, generator=gen), torch.randint(0, 4, (90,), generator=gen)
    )
    spec = {"name": "mlp", "hidden": [16, 8], "input_shape": [2, 3, 3], "n_classes": 4}
    recipe = tiny_config("x-stacked").recipe.model_copy(update={"epochs": 5, "batch_size": 32})
    cpu = torch.device("cpu")
    seeds = [3, 4]
    loop = [train_model(init_model(spec, s), data, recipe, s, cpu) for s in seeds]
    stacked = train_mlps_stacked([init_model(spec, s) for s in seeds], seeds, data, recipe, cpu)
    for a, b in zip(loop, stacked, strict=True):
        for name, pa in a.state_dict().items():
            assert torch.allclose(pa, b.state_dict()[name], atol=1e-5), name
