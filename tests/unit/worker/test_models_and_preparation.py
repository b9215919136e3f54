"""The model registry, training recipes, the competition-file examples, and resumable preparation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.competition_config import CompetitionConfig, RecipeConfig
from core.config_file import ConfigInvalid, parse_config_text
from core.splits import SplitError, make_splits, public_mask
from harness.platform import tiny_config
from worker.ml.nets import REGISTRY, build_model
from worker.ml.preparation import prepare, reference_file
from worker.ml.problem import Tensors
from worker.ml.training import class_weights, train_model


@pytest.mark.parametrize(
    ("spec", "shape"),
    [
        ({"name": "mlp", "hidden": [16]}, (1, 8, 8)),
        ({"name": "cnn", "channels": [4, 8], "hidden": 16}, (1, 8, 8)),
        ({"name": "resnet18", "width": 4}, (3, 32, 32)),
    ],
)
def test_every_registered_model_trains_a_step_and_predicts(spec, shape):
    torch.manual_seed(0)
    model = build_model({**spec, "input_shape": list(shape), "n_classes": 10})
    data = Tensors(torch.rand(16, *shape), torch.arange(16) % 10)
    recipe = RecipeConfig(epochs=2, batch_size=8, schedule="step", step_epochs=1)
    before = [p.detach().clone() for p in model.parameters()]
    train_model(model, data, recipe, seed=1, device=torch.device("cpu"))
    assert not model.training and model(data.x).shape == (16, 10)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert spec["name"] in REGISTRY


def test_image_models_refuse_flat_inputs_with_a_reason():
    with pytest.raises(ValueError, match="needs image inputs"):
        build_model(
            {"name": "cnn", "channels": [4], "hidden": 8, "input_shape": [64], "n_classes": 10}
        )
    with pytest.raises(ConfigInvalid, match="model.name: cnn needs image inputs"):
        parse_config_text("slug: abc\ntitle: t\nmodel: {name: cnn}\n")


def test_balanced_class_weights_are_inverse_frequency():
    model = build_model({"name": "mlp", "hidden": [4], "input_shape": [2], "n_classes": 3})
    labels = torch.tensor([0, 0, 0, 1])
    weights = class_weights(labels, RecipeConfig(class_weighting="balanced"), model)
    assert torch.allclose(weights, torch.tensor([4 / 9, 4 / 3, 0.0]))
    assert class_weights(labels, RecipeConfig(), model) is None


def test_group_splits_forget_whole_groups_and_explain_impossible_ones():
    cfg = CompetitionConfig.model_validate(
        {"slug": "abc", "title": "t", "split": {"forget_size": None, "forget_groups": 2}}
    )
    groups = np.arange(200) % 20
    splits = make_splits(200, cfg.split, seed=3, groups=groups)
    forgotten = set(groups[splits.forget])
    assert len(forgotten) == 2
    assert not set(groups[splits.retain]) & forgotten  # every train example of those groups
    with pytest.raises(SplitError, match="needs a dataset with a `group` array"):
        make_splits(200, cfg.split, seed=3)
    too_many = cfg.split.model_copy(update={"forget_groups": 20})
    with pytest.raises(SplitError, match="choose at most"):
        make_splits(200, too_many, seed=3, groups=groups)


def test_public_mask_is_a_fixed_partition():
    a, b = public_mask(100, 0.3, 7), public_mask(100, 0.3, 7)
    assert np.array_equal(a, b) and a.sum() == 30
    assert public_mask(2, 0.01, 1).sum() == 1 and public_mask(2, 0.99, 1).sum() == 1


class _Stop(Exception):
    pass


def test_an_interrupted_preparation_resumes_without_retraining_finished_references(tmp_path: Path):
    cfg = tiny_config("resume")
    cfg.execution.references_per_chunk = 2  # references are saved a chunk at a time
    out = tmp_path / "comp"

    def interrupt_after_two(stage: str, done: int, total: int) -> None:
        if stage == "references" and done == 2:
            raise _Stop

    with pytest.raises(_Stop):
        prepare(cfg, out, torch.device("cpu"), interrupt_after_two)
    kept = {k: reference_file(out, k).stat().st_mtime_ns for k in range(2)}
    assert not reference_file(out, 2).exists()

    seen: list[tuple[str, int]] = []
    timing, summary = prepare(cfg, out, torch.device("cpu"), lambda s, d, t: seen.append((s, d)))
    assert {k: reference_file(out, k).stat().st_mtime_ns for k in range(2)} == kept
    assert all(reference_file(out, k).exists() for k in range(cfg.scoring.n_models))
    assert ("references", cfg.scoring.n_models) in seen and "retrain" in summary

    # a changed recipe makes every artefact stale: nothing is reused
    changed = cfg.model_copy(update={"recipe": cfg.recipe.model_copy(update={"epochs": 2})})
    prepare(changed, out, torch.device("cpu"))
    assert reference_file(out, 0).stat().st_mtime_ns != kept[0]
