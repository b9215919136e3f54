"""Competitions from bundles through the API: the digits32 example (the organizer's own model,
augmentation, a dev split, forgetting whole groups) created from its bundle, its hidden
dataset uploaded, prepared at a tiny N and a .py submission scored; the bundle's round trip
under another slug; the starter kit and pages; and every organizer mistake a 4xx that leaves
nothing behind, on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from sqlalchemy import func, select

from core.bundle import read_folder, read_zip
from core.db import session_scope
from core.models import Competition, Role, Submission
from core.settings import get_settings
from harness.services import fresh_postgres_database
from tests.organizer_flow import EXAMPLE_BUNDLE as EXAMPLE
from tests.organizer_flow import (
    FINETUNE,
    account,
    app_on,
    digits32_hidden,
    einops_wheelhouse,
    tiny_bundle,
)
from worker.jobs.prepare import run_preparation
from worker.jobs.score import run_scoring

API = "/api/v1"
ZIP = {"Content-Type": "application/zip"}


def zipped(folder: Path) -> bytes:
    return read_folder(folder).to_zip()


def test_a_runtime_that_does_not_resolve_fails_the_preparation_saying_why(tmp_path, wheelhouse):
    with app_on(f"sqlite:///{tmp_path / 'arena.db'}", tmp_path / "var") as client:
        olga = account(client, "olga", Role.ORGANIZER)
        folder = tiny_bundle(
            tmp_path, slug="no-runtime", runtime={"packages": ["not-a-package==9.9"]}
        )
        r = client.post(
            f"{API}/competitions/bundle", content=zipped(folder), headers={**olga, **ZIP}
        )
        assert r.status_code == 201, r.text
        assert (
            client.put(
                f"{API}/competitions/no-runtime/dataset",
                files={"file": ("d.npz", digits32_hidden())},
                headers=olga,
            ).status_code
            == 200
        )
        assert (
            client.post(f"{API}/competitions/no-runtime/prepare", headers=olga).status_code == 202
        )
        with session_scope() as s:
            cid = s.scalar(select(Competition.id).where(Competition.slug == "no-runtime"))
        run_preparation(cid, get_settings(), inline=True)
        view = client.get(f"{API}/competitions/no-runtime", headers=olga).json()
        assert view["status"] == "failed"
        assert (
            "RuntimeFailed" in view["status_message"] and "not-a-package" in view["status_message"]
        )
        r = client.put(
            f"{API}/competitions/no-runtime",
            content=yaml.safe_dump(
                {
                    **yaml.safe_load((folder / "competition.yaml").read_text()),
                    "runtime": {"packages": ["safetensors==0.1"]},
                }
            ),
            headers={**olga, "Content-Type": "application/yaml"},
        )
        assert r.status_code == 422 and "the platform's own" in r.text


def _competitions() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count(Competition.id))))


def _bundle_files(var: Path) -> list[Path]:
    root = var / "storage" / "bundles"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture()
def wheelhouse(tmp_path):
    """Runtimes install from a wheelhouse holding einops (as on an air-gapped worker)."""
    settings = get_settings()
    saved = settings.wheelhouse
    settings.wheelhouse = einops_wheelhouse(tmp_path / "wheelhouse")
    yield settings.wheelhouse
    settings.wheelhouse = saved


def _score(client, headers, name: str, content: bytes) -> Submission:
    r = client.post(
        f"{API}/competitions/digits32/submissions", files={"file": (name, content)}, headers=headers
    )
    assert r.status_code in (201, 202), r.text
    run_scoring(r.json()["id"], get_settings(), inline=True)
    with session_scope() as s:
        return s.get(Submission, r.json()["id"])


def _zip_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def test_digits32_from_bundle_to_a_scored_submission(tmp_path, wheelhouse):
    with app_on(f"sqlite:///{tmp_path / 'arena.db'}", tmp_path / "var") as client:
        olga = account(client, "olga", Role.ORGANIZER)
        pat = account(client, "pat")
        r = client.post(
            f"{API}/competitions/bundle",
            content=zipped(tiny_bundle(tmp_path)),
            headers={**olga, **ZIP},
        )
        assert r.status_code == 201, r.text
        comp = r.json()
        assert comp["slug"] == "digits32" and comp["status"] == "draft"
        assert comp["pages"] == ["overview", "data", "evaluation", "rules"]
        assert comp["starter_kit"] is True

        # the hidden dataset: checked against the settings' shape and the organizer's model
        wrong = io.BytesIO()
        np.savez(
            wrong,
            x=np.zeros((60, 3, 32, 32), np.uint8),
            y=np.arange(60) % 10,
            group=np.arange(60) % 20,
        )
        r = client.put(
            f"{API}/competitions/digits32/dataset",
            files={"file": ("d.npz", wrong.getvalue())},
            headers=olga,
        )
        assert r.status_code == 422 and "dataset.input_shape is [1, 32, 32]" in r.json()["detail"]
        r = client.put(
            f"{API}/competitions/digits32/dataset",
            files={"file": ("d.npz", digits32_hidden())},
            headers=olga,
        )
        assert r.status_code == 200, r.text
        assert r.json()["input_shape"] == [1, 32, 32] and r.json()["n_groups"] == 20

        assert client.post(f"{API}/competitions/digits32/prepare", headers=olga).status_code == 202
        with session_scope() as s:
            cid = s.scalar(select(Competition.id).where(Competition.slug == "digits32"))
        run_preparation(cid, get_settings(), inline=True)
        r = client.get(f"{API}/competitions/digits32", headers=olga)
        assert r.json()["status"] == "ready", r.json()["status_message"]
        assert client.post(f"{API}/competitions/digits32/open", headers=olga).status_code == 200

        # the starter kit: kit files, settings, the model module and the dev split
        kit = zipfile.ZipFile(io.BytesIO(client.get(f"{API}/competitions/digits32/kit").content))
        names = set(kit.namelist())
        assert {
            "starter.py",
            "starter.ipynb",
            "README.md",
            "model.py",
            "competition.yaml",
            "dev.npz",
        } <= names
        assert kit.read("model.py") == (EXAMPLE / "model.py").read_bytes()
        assert "source" not in yaml.safe_load(kit.read("competition.yaml"))["model"]
        assert client.get(f"{API}/competitions/digits32/pages").json()["data"].startswith("# Data")

        # a participant's .py submission, scored against the references of the organizer's model
        assert (
            client.post(f"{API}/competitions/digits32/rules/accept", headers=pat).status_code == 200
        )
        sub = _score(client, pat, "m.py", FINETUNE)
        assert sub.status == "scored", sub.failure_message
        assert sub.result is not None and 0 <= sub.result["score"] <= 1

        # the runtime: resolved at preparation, shown, recorded with every score; the kit's
        # zip submission imports its helper module and the runtime's einops
        view = client.get(f"{API}/competitions/digits32").json()
        assert view["runtime"] == ["einops==0.8.2"] and view["runtime_packages"] == {
            "einops": "0.8.2"
        }
        assert sub.result["environment"]["runtime"] == {"einops": "0.8.2"}
        multi = EXAMPLE / "kit" / "multi-file"
        sub = _score(
            client, pat, "multi.zip", _zip_of({p.name: p.read_bytes() for p in multi.glob("*.py")})
        )
        assert sub.status == "scored", sub.failure_message
        missing = b"import scipy_not_here\n\ndef unlearning(net, r, f, v):\n    return net\n"
        sub = _score(client, pat, "missing.zip", _zip_of({"main.py": missing}))
        assert sub.status == "failed" and sub.failure_reason == "crashed"
        assert "No module named 'scipy_not_here'" in sub.failure_message
        assert "einops 0.8.2" in sub.failure_message

        # the round trip: exported and created under another slug, the same competition
        exported = client.get(f"{API}/competitions/digits32/bundle", headers=olga)
        assert exported.status_code == 200 and exported.headers["content-type"] == "application/zip"
        r = client.post(
            f"{API}/competitions/bundle?slug=digits32-copy",
            content=exported.content,
            headers={**olga, **ZIP},
        )
        assert r.status_code == 201, r.text
        a = client.get(f"{API}/competitions/digits32/config?format=json", headers=olga).json()
        b = client.get(f"{API}/competitions/digits32-copy/config?format=json", headers=olga).json()
        assert {**a, "slug": None} == {**b, "slug": None}
        again = read_zip(
            client.get(f"{API}/competitions/digits32-copy/bundle", headers=olga).content
        )
        first = read_zip(exported.content)
        assert again.pages() == first.pages() == read_folder(EXAMPLE).pages()
        assert (
            again.files["model.py"]
            == first.files["model.py"]
            == (EXAMPLE / "model.py").read_bytes()
        )
        assert again.kit() == first.kit() == read_folder(EXAMPLE).kit()
        assert again.dev == first.dev == (EXAMPLE / "dev.npz").read_bytes()


BAD_MODULES = {
    "syntax": ("def build_model(:\n", "line 1"),
    "no builder": ("import torch\n", "defines no function 'build_model'"),
    "wrong params": (
        "import torch\ndef build_model(input_shape, n_classes, depth):\n    return torch.nn.Linear(1, 1)\n",
        "takes no parameter",
    ),
    "not a module": (
        "def build_model(input_shape, n_classes, **kw):\n    return 3\n",
        "not a torch.nn.Module",
    ),
    "wrong output": (
        "import torch\ndef build_model(input_shape, n_classes, **kw):\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1024, 7))\n",
        "it must return (2, 10)",
    ),
    "not seeded": (
        "import random, torch\ndef build_model(input_shape, n_classes, **kw):\n"
        "    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1024, n_classes))\n"
        "    torch.nn.init.constant_(m[1].bias, random.random())\n    return m\n",
        "same seed give different weights",
    ),
    "reads the host": ("open('/etc/shadow').read()\n", "could not be imported"),
}


@pytest.fixture(params=["sqlite", "postgres"])
def client(request, tmp_path):
    if request.param == "sqlite":
        with app_on(f"sqlite:///{tmp_path / 'arena.db'}", tmp_path / "var") as c:
            yield c
    else:
        with fresh_postgres_database() as url, app_on(url, tmp_path / "var") as c:
            yield c


def test_an_organizers_mistakes_are_4xx_and_leave_nothing(client, tmp_path):
    olga = account(client, "olga", Role.ORGANIZER)
    pat = account(client, "pat")
    folder = tiny_bundle(tmp_path, slug="broken")
    var = tmp_path / "var"

    def post(data: bytes, headers=olga, query: str = ""):
        return client.post(
            f"{API}/competitions/bundle{query}", content=data, headers={**headers, **ZIP}
        )

    assert post(zipped(folder), headers=pat).status_code == 403
    for name, (source, expected) in BAD_MODULES.items():
        (folder / "model.py").write_text(source)
        r = post(zipped(folder))
        assert r.status_code == 422, (name, r.text)
        assert expected in r.json()["detail"], (name, r.json()["detail"])
        assert r.json()["detail"].startswith("model.module: model.py cannot be used"), name
    assert _competitions() == 0 and _bundle_files(var) == []

    shutil.copy(EXAMPLE / "model.py", folder / "model.py")
    cases = {
        "not a zip": (b"PK not really", "not a zip file"),
        "data inside": (_with(folder, "hidden.npz", b"x"), "data files do not belong in a bundle"),
        "escaping path": (_with(folder, "../evil.py", b"x"), "'..'"),
        "absolute path": (_with(folder, "/etc/evil.py", b"x"), "absolute"),
        "symlink": (_with_symlink(folder), "symbolic link"),
        "zip bomb": (_with(folder, "kit/bomb.txt", b"\0" * (20 << 20)), "zip bomb"),
        "no settings": (_without(folder, "competition.yaml"), "competition.yaml: missing"),
        "module missing": (
            _without(folder, "model.py"),
            "model.module: model.py is not in the bundle",
        ),
        "unknown page": (_with(folder, "pages/Read Me.md", b"# x"), "pages are pages/NAME.md"),
        "bad setting": (_edited(folder, "split", {"forget_size": 10, "forget_groups": 2}), "split"),
        "source in yaml": (
            _edited(folder, "model", {"module": "model.py", "source": "x"}),
            "do not set it",
        ),
        "bad dev split": (_with(folder, "dev.npz", b"not npz"), "dev.npz"),
    }
    for name, (data, expected) in cases.items():
        r = post(data)
        assert 400 <= r.status_code < 500, (name, r.status_code, r.text)
        assert expected in r.text, (name, r.text)
    assert _competitions() == 0 and _bundle_files(var) == []

    # a good bundle; the same slug again is a 409 that leaves the first one's files alone
    assert post(zipped(folder)).status_code == 201
    files = _bundle_files(var)
    assert len(files) == 1
    r = post(zipped(folder))
    assert r.status_code == 409 and _bundle_files(var) == files
    # an update with a broken module is refused and changes nothing; a good one replaces the files
    (folder / "model.py").write_text(BAD_MODULES["wrong output"][0])
    r = client.put(
        f"{API}/competitions/broken/bundle", content=zipped(folder), headers={**olga, **ZIP}
    )
    assert r.status_code == 422 and _bundle_files(var) == files
    shutil.copy(EXAMPLE / "model.py", folder / "model.py")
    (folder / "pages" / "faq.md").write_text("# FAQ\n")
    r = client.put(
        f"{API}/competitions/broken/bundle", content=zipped(folder), headers={**olga, **ZIP}
    )
    assert r.status_code == 200 and "bundle" in r.json()["changed"], r.text
    assert client.get(f"{API}/competitions/broken/pages", headers=olga).json()["faq"] == "# FAQ\n"
    assert len(_bundle_files(var)) == 1 and _bundle_files(var) != files
    # a settings file alone keeps the module; the schema is served for editors
    text = client.get(f"{API}/competitions/broken/config", headers=olga).text
    assert "source" not in yaml.safe_load(text)["model"]
    r = client.put(
        f"{API}/competitions/broken",
        content=text.replace("epochs: 1", "epochs: 2"),
        headers={**olga, "Content-Type": "application/yaml"},
    )
    assert r.status_code == 200 and r.json()["changed"] == ["recipe"], r.text
    schema = client.get(f"{API}/schema/competition.json").json()
    assert "ModuleModel" in schema["$defs"] and "AugmentConfig" in schema["$defs"]


def _with(folder: Path, name: str, data: bytes) -> bytes:
    files = {p: b for p, b in read_folder(folder).files.items() if p != name}
    out = io.BytesIO(type(read_folder(folder))(files).to_zip())
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return out.getvalue()


def _with_symlink(folder: Path) -> bytes:
    out = io.BytesIO(zipped(folder))
    with zipfile.ZipFile(out, "a") as zf:
        info = zipfile.ZipInfo("kit/link.py")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    return out.getvalue()


def _without(folder: Path, name: str) -> bytes:
    bundle = read_folder(folder)
    return type(bundle)({p: b for p, b in bundle.files.items() if p != name}).to_zip()


def _edited(folder: Path, key: str, value) -> bytes:
    bundle = read_folder(folder)
    cfg = yaml.safe_load(bundle.files["competition.yaml"])
    cfg[key] = value
    files = {**bundle.files, "competition.yaml": yaml.safe_dump(cfg).encode()}
    return type(bundle)(files).to_zip()


def test_the_seeded_demo_carries_its_bundles_pages_and_kit(tmp_path):
    from core.storage import Storage
    from server.services.platform import seed_demo

    with app_on(f"sqlite:///{tmp_path / 'arena.db'}", tmp_path / "var") as client:
        with session_scope() as s:
            seed_demo(s, Storage(get_settings()))
        view = client.get(f"{API}/competitions/digits-demo").json()
        assert view["pages"] == ["overview", "data", "evaluation", "rules"] and view["starter_kit"]
        kit = zipfile.ZipFile(io.BytesIO(client.get(f"{API}/competitions/digits-demo/kit").content))
        assert {"starter.py", "starter.ipynb", "competition.yaml", "SHA256SUMS"} <= set(
            kit.namelist()
        )
        settings = yaml.safe_load(kit.read("competition.yaml"))
        assert settings["dataset"]["loader"] == "sklearn_digits"  # its data ship with scikit-learn
        page = client.get("/c/digits-demo/page/evaluation")
        assert page.status_code == 200 and "NeurIPS 2023 Machine Unlearning metric" in page.text


def test_a_server_that_cannot_jail_answers_503_not_a_blame(tmp_path, monkeypatch):
    import core.jailed

    with app_on(f"sqlite:///{tmp_path / 'arena.db'}", tmp_path / "var") as client:
        olga = account(client, "olga", Role.ORGANIZER)
        monkeypatch.setattr(core.jailed.shutil, "which", lambda name: None)  # no bubblewrap here
        r = client.post(
            f"{API}/competitions/bundle",
            content=zipped(tiny_bundle(tmp_path)),
            headers={**olga, **ZIP},
        )
        assert r.status_code == 503 and "bubblewrap" in r.json()["detail"], r.text
        assert _competitions() == 0


EINOPS_MODEL = b'''"""A model whose head comes from einops, a package of the competition's runtime."""
import torch
from einops.layers.torch import Rearrange


def build_model(input_shape, n_classes, width=4, stages=1):
    return torch.nn.Sequential(
        torch.nn.Conv2d(input_shape[0], width, 3, 2, 1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        Rearrange("b c h w -> b (c h w)"),
        torch.nn.Linear(width, n_classes),
    )
'''


def _prepared_status(client, olga, slug: str) -> dict:
    r = client.put(
        f"{API}/competitions/{slug}/dataset",
        files={"file": ("d.npz", digits32_hidden())},
        headers=olga,
    )
    assert r.status_code == 200, r.text
    assert client.post(f"{API}/competitions/{slug}/prepare", headers=olga).status_code == 202
    with session_scope() as s:
        cid = s.scalar(select(Competition.id).where(Competition.slug == slug))
    run_preparation(cid, get_settings(), inline=True)
    return client.get(f"{API}/competitions/{slug}", headers=olga).json()


def test_the_organizers_model_may_import_the_runtimes_packages(tmp_path, wheelhouse):
    """The API cannot build such a model (the runtime lives on the workers): its check waits
    for the preparation, which runs it with the runtime; training, the sandbox and the
    evaluation of returned weights all import einops from there."""
    with app_on(f"sqlite:///{tmp_path / 'arena.db'}", tmp_path / "var") as client:
        olga = account(client, "olga", Role.ORGANIZER)
        pat = account(client, "pat")
        folder = tiny_bundle(tmp_path)
        (folder / "model.py").write_bytes(EINOPS_MODEL)
        r = client.post(
            f"{API}/competitions/bundle", content=zipped(folder), headers={**olga, **ZIP}
        )
        assert r.status_code == 201, r.text
        view = _prepared_status(client, olga, "digits32")
        assert view["status"] == "ready", view["status_message"]
        assert client.post(f"{API}/competitions/digits32/open", headers=olga).status_code == 200
        assert (
            client.post(f"{API}/competitions/digits32/rules/accept", headers=pat).status_code == 200
        )
        sub = _score(client, pat, "m.py", FINETUNE)
        assert sub.status == "scored", sub.failure_message

        # a package that neither the platform nor the runtime has: the preparation says which
        (folder / "model.py").write_bytes(EINOPS_MODEL.replace(b"import torch", b"import nothere"))
        r = client.post(
            f"{API}/competitions/bundle?slug=no-such-import",
            content=zipped(folder),
            headers={**olga, **ZIP},
        )
        assert r.status_code == 201, r.text
        view = _prepared_status(client, olga, "no-such-import")
        assert view["status"] == "failed"
        assert "no module named 'nothere'" in view["status_message"]
        assert "runtime.packages" in view["status_message"]

        # without a runtime the same mistake is the organizer's 4xx at once
        r = client.post(
            f"{API}/competitions/bundle?slug=no-runtime",
            content=_edited(folder, "runtime", {"packages": []}),
            headers={**olga, **ZIP},
        )
        assert r.status_code == 422 and "no module named 'nothere'" in r.json()["detail"], r.text
