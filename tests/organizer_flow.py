"""Helpers for the organizer tests: an in-process app on a chosen database, accounts with
roles, the worker's jobs called directly, and the test competition's file and dataset."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from core import db as server_db
from core.db import session_scope
from core.migrate import upgrade_database
from core.models import Role
from core.settings import get_settings
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


def competition_yaml(slug: str, **extra: str) -> str:
    """A small uploaded-dataset competition (CNN on 1x8x8 digits, forgetting 3 groups, N = 4)."""
    text = f"""
slug: {slug}
title: Grouped digits
description: "Forget **three groups** of digits."
seed: 11
dataset: {{source: upload, n_classes: 10}}
split: {{test_fraction: 0.2, val_fraction: 0.1, forget_size: null, forget_groups: 3}}
model: {{name: cnn, channels: [4], hidden: 16}}
recipe: {{epochs: 8, batch_size: 32, lr: 0.05, schedule: cosine}}
scoring: {{n_models: 4, budget_floor_seconds: 10, timing_repeats: 1, bootstrap_resamples: 100}}
limits: {{max_daily_submissions: 10, max_total_submissions: 3, max_final_submissions: 1}}
allowed_uploads: [py]
"""
    for key, value in extra.items():
        text += f"{key}: {value}\n"
    return text


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
