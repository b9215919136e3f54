"""Helpers for the organizer tests: an in-process app on a chosen database, accounts with
roles, the worker's jobs called directly, and the test competition's file and dataset."""

from __future__ import annotations

import importlib.util
import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import yaml
from fastapi.testclient import TestClient

from core import db as server_db
from core.db import session_scope
from core.migrate import upgrade_database
from core.models import Role
from core.settings import get_settings
from harness.cases import competition_yaml  # noqa: F401 - the organizer tests' competition
from server.app import create_app
from server.services.users import create_user

PASSWORD = "correct horse battery"

IDENTITY = b"def unlearning(net, retain_loader, forget_loader, val_loader):\n    return net\n"
FINETUNE = b"""
import torch

def unlearning(net, retain_loader, forget_loader, val_loader):
    opt = torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9)
    net.train()
    for x, y in retain_loader:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()
"""


EXAMPLE_BUNDLE = Path(__file__).resolve().parent.parent / "examples" / "competitions" / "digits32"


def tiny_bundle(tmp_path: Path, **edits) -> Path:
    """The digits32 bundle, shrunk for a test: N = 2, one epoch, a narrow one-stage model."""
    folder = tmp_path / "digits32"
    shutil.copytree(EXAMPLE_BUNDLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    cfg = yaml.safe_load((folder / "competition.yaml").read_text())
    cfg["model"]["params"] = {"width": 4, "stages": 1}
    cfg["recipe"]["epochs"] = 1
    cfg["scoring"].update(n_models=2, timing_repeats=1, bootstrap_resamples=50)
    cfg["scoring"]["budget_floor_seconds"] = 20.0
    cfg["limits"]["max_daily_submissions"] = 50
    for key, value in edits.items():
        cfg[key] = value
    (folder / "competition.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return folder


def digits32_hidden() -> bytes:
    """digits32's hidden data (its make_dataset.py), 20 of the 60 writers."""
    spec = importlib.util.spec_from_file_location(
        "make_dataset", EXAMPLE_BUNDLE / "make_dataset.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    hidden, _dev = module.make()
    keep = np.isin(hidden["group"], np.arange(20))  # 20 of the 60 writers: ~500 images
    buf = io.BytesIO()
    np.savez(buf, **{k: v[keep] for k, v in hidden.items()})
    return buf.getvalue()


def einops_wheelhouse(folder: Path) -> Path:
    """A wheelhouse holding digits32's runtime package (pip downloads it once per test run)."""
    import subprocess
    import sys

    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "-d",
            str(folder),
            "einops==0.8.2",
        ],
        check=True,
        timeout=300,
    )
    return folder


def dataset_npz(n: int = 300, **overrides: np.ndarray) -> bytes:
    from sklearn.datasets import load_digits

    digits = load_digits()
    arrays = {
        "x": (digits.images[:n] / 16.0).astype(np.float32)[:, None],
        "y": digits.target[:n].astype(np.int64),
        "group": (np.arange(n) % 30).astype(np.int64),
    }
    arrays.update(overrides)
    buf = io.BytesIO()
    np.savez(buf, **{k: v for k, v in arrays.items() if v is not None})
    return buf.getvalue()


@contextmanager
def app_on(database_url: str, var_dir: Path) -> Iterator[TestClient]:
    """The API in process on ``database_url`` (migrated here), files under ``var_dir``."""
    settings = get_settings()
    saved = settings.database_url, settings.var_dir
    settings.database_url, settings.var_dir = database_url, var_dir
    settings.ensure_dirs()
    server_db.get_engine.cache_clear()
    server_db.get_sessionmaker.cache_clear()
    try:
        upgrade_database(settings.sqlalchemy_url)
        with TestClient(create_app()) as client:
            yield client
    finally:
        server_db.get_engine().dispose()
        settings.database_url, settings.var_dir = saved
        server_db.get_engine.cache_clear()
        server_db.get_sessionmaker.cache_clear()


def account(client: TestClient, name: str, role: Role = Role.PARTICIPANT) -> dict[str, str]:
    with session_scope() as s:
        create_user(s, name, PASSWORD, role)
    r = client.post("/api/v1/tokens", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}
