"""The model as a module's builder (built-ins and the organizer's own), and the recipe's
augmentation and label smoothing: seeded, the same batches on every device, and what the
worker, the sandbox and the evaluation build from one spec."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from core.competition_config import CompetitionConfig
from core.model_config import BUILTIN_MODELS, AugmentConfig, RecipeConfig
from tests.organizer_flow import EXAMPLE_BUNDLE
from worker.ml.augment import augment_batch
from worker.ml.batched import can_batch
from worker.ml.models import BUILTIN_MODELS as SANDBOX_BUILTINS
from worker.ml.nets import ModelBuildError, build_model, model_spec
from worker.ml.problem import Tensors
from worker.ml.training import train_model

SOURCE = (EXAMPLE_BUNDLE / "model.py").read_text()


def module_spec(**params) -> dict:
    cfg = CompetitionConfig.model_validate(
        {
            "slug": "abc",
            "title": "t",
            "model": {"module": "model.py", "params": params, "source": SOURCE},
        }
    )
    return model_spec(cfg.model, (1, 32, 32), 10)


def test_the_built_in_names_agree_between_settings_and_sandbox():
    assert SANDBOX_BUILTINS == BUILTIN_MODELS


def test_an_organizer_module_builds_the_same_model_under_one_seed():
    spec = module_spec(width=4, stages=2)
    torch.manual_seed(3)
    a = build_model(spec)
    torch.manual_seed(3)
    b = build_model(spec)
    assert type(a).__name__ == "SmallResNet"
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert a(torch.rand(2, 1, 32, 32)).shape == (2, 10)
    # input_shape and n_classes come from the data unless the params set them
    assert build_model({**spec, "params": {"width": 4, "stages": 1, "n_classes": 3}})(
        torch.rand(1, 1, 32, 32)
    ).shape == (1, 3)


def test_a_module_model_without_its_source_says_to_use_the_bundle():
    cfg = CompetitionConfig.model_validate(
        {"slug": "abc", "title": "t", "model": {"module": "model.py"}}
    )
    with pytest.raises(ModelBuildError, match="from its bundle"):
        model_spec(cfg.model, (1, 32, 32), 10)


def test_crop_and_flip_are_the_padded_crops_the_seed_draws():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    cfg = AugmentConfig(crop_padding=2, horizontal_flip=True)
    out = augment_batch(x, cfg, torch.Generator().manual_seed(11))
    gen = torch.Generator().manual_seed(11)  # the same draws, in the same order, by hand
    flip = torch.rand(2, generator=gen) < 0.5
    dy, dx = torch.randint(0, 5, (2,), generator=gen), torch.randint(0, 5, (2,), generator=gen)
    for i in range(2):
        img = x[i].flip(2) if flip[i] else x[i]
        padded = F.pad(img, (2, 2, 2, 2))
        assert torch.equal(out[i], padded[:, dy[i] : dy[i] + 5, dx[i] : dx[i] + 5])
    assert out.shape == x.shape
    assert augment_batch(x, AugmentConfig(), torch.Generator()) is x  # off: untouched
    with pytest.raises(ValueError, match="image inputs"):
        augment_batch(torch.zeros(2, 64), cfg, torch.Generator())


def test_augmented_smoothed_training_is_reproducible_and_not_batched():
    torch.manual_seed(0)
    data = Tensors(torch.rand(40, 1, 32, 32), torch.arange(40) % 10)
    recipe = RecipeConfig(
        epochs=1, batch_size=16, label_smoothing=0.1, augment=AugmentConfig(crop_padding=2)
    )
    spec = module_spec(width=4, stages=1)

    def trained(r: RecipeConfig) -> dict:
        torch.manual_seed(5)
        return train_model(
            build_model(spec), data, r, seed=5, device=torch.device("cpu")
        ).state_dict()

    a, b, plain = trained(recipe), trained(recipe), trained(RecipeConfig(epochs=1, batch_size=16))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], plain[k]) for k in a)
    mlp = build_model({"name": "mlp", "hidden": [4], "input_shape": [4], "n_classes": 2})
    assert can_batch(mlp, RecipeConfig())
    assert not can_batch(mlp, RecipeConfig(label_smoothing=0.1))
    assert not can_batch(mlp, RecipeConfig(augment=AugmentConfig(horizontal_flip=True)))


def test_model_imports_keep_two_runtimes_apart(tmp_path):
    """A worker serves many competitions: a module imported from one runtime is never what a
    second runtime's model gets, and nothing stays importable after the job."""
    import sys

    from worker.ml.nets import model_imports

    sites = []
    for version in ("1", "2"):
        site = tmp_path / f"runtime-{version}" / "site"
        (site / "arena_pkg_x").mkdir(parents=True)
        (site / "arena_pkg_x" / "__init__.py").write_text(f"VERSION = {version!r}\n")
        sites.append(site)
    source = (
        "import torch, arena_pkg_x\n"
        "def build_model(input_shape, n_classes):\n"
        "    m = torch.nn.Linear(int(input_shape[0]), n_classes)\n"
        "    m.version = arena_pkg_x.VERSION\n"
        "    return m\n"
    )
    spec = {"name": "module", "module": "model.py", "builder": "build_model", "params": {}}
    spec.update(source=source, input_shape=[3], n_classes=2)
    try:
        with model_imports(sites[0]):
            assert build_model(spec).version == "1"
        assert str(sites[0]) not in sys.path
        with model_imports(sites[1]):
            assert build_model(spec).version == "2"
        with model_imports(None), pytest.raises(ModelBuildError, match="no module named"):
            build_model(spec)
    finally:
        sys.modules.pop("arena_pkg_x", None)
