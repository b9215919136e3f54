"""Reading bundles (zip or folder) and their settings; the example bundles validate; the
published JSON Schema is the settings model's."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from core.bundle import MAX_FILES, Bundle, read_folder, read_zip
from core.bundle_validation import bundle_config, check_bundle
from core.competition_config import demo_config
from core.config_file import json_schema, parse_config_text
from core.errors import Invalid

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "competitions"


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def test_a_zip_of_the_folder_itself_is_unwrapped_and_caches_are_skipped():
    data = _zip({
        "mine/competition.yaml": b"slug: abc\ntitle: t\n",
        "mine/pages/data.md": b"# D",
        "mine/pages/overview.md": b"# O",
        "mine/__pycache__/model.cpython-311.pyc": b"\0",
        "mine/kit/.ipynb_checkpoints/x.ipynb": b"{}",
    })  # fmt: skip
    bundle = read_zip(data)
    assert set(bundle.files) == {"competition.yaml", "pages/data.md", "pages/overview.md"}
    assert list(bundle.pages()) == ["overview", "data"]  # the known pages in their order


def test_too_many_files_and_symlinks_in_a_folder_are_refused(tmp_path):
    with pytest.raises(Invalid, match=f"more than {MAX_FILES}"):
        read_zip(_zip({f"kit/{i}.txt": b"x" for i in range(MAX_FILES + 1)}))
    (tmp_path / "competition.yaml").write_text("slug: abc\ntitle: t\n")
    (tmp_path / "kit").mkdir()
    os.symlink("/etc/passwd", tmp_path / "kit" / "passwd")
    with pytest.raises(Invalid, match="kit/passwd: a symbolic link"):
        read_folder(tmp_path)


def test_bundle_settings_take_another_slug_and_the_module_from_the_bundle():
    bundle = read_folder(EXAMPLES / "digits32")
    cfg = bundle_config(bundle, "other-slug")
    assert cfg.slug == "other-slug"
    assert cfg.model.source == (EXAMPLES / "digits32" / "model.py").read_text()
    with pytest.raises(Invalid, match="not UTF-8"):
        _ = Bundle({"competition.yaml": b"\xff\xfe"}).config_text


def test_the_example_bundles_validate_and_the_demo_bundle_is_the_demo():
    demo = check_bundle(read_folder(EXAMPLES / "digits-demo"))
    assert demo.config == demo_config()
    assert list(demo.pages) == ["overview", "data", "evaluation", "rules"]
    d32 = check_bundle(read_folder(EXAMPLES / "digits32"))  # the model module checked jailed
    assert d32.model_report["parameters"] > 10_000 and d32.model_report["batchnorm"]
    assert d32.dev_summary["input_shape"] == [1, 32, 32] and d32.dev_summary["n_groups"] == 12
    assert d32.config.recipe.augment.crop_padding == 2 and d32.config.split.forget_groups == 4
    cifar = parse_config_text((EXAMPLES / "cifar-style.yaml").read_text())
    assert cifar.model.name == "resnet18" and cifar.split.forget_groups == 15


def test_the_published_json_schema_is_the_settings_models():
    published = json.loads((ROOT / "docs" / "competition.schema.json").read_text())
    assert published == json_schema(), "run: arena competition schema docs/competition.schema.json"
    model = published["properties"]["model"]
    assert {"$ref": "#/$defs/ModuleModel"} in model["oneOf"] or "ModuleModel" in json.dumps(model)
