"""Opt-in (deselected unless `-m torch_runtime`; about 5 GB of wheels): a competition whose runtime names
its own torch and torchvision. The worker resolves it with uv (from PyPI, or ARENA_WHEELHOUSE),
the sandboxes import that torch instead of the platform's, and a submission that imports
torchvision is scored, its returned weights loaded by the worker's own torch. Run it once:

    .venv/bin/python -m pytest -m torch_runtime tests/e2e/test_torch_runtime.py
"""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import select

from core.db import session_scope
from core.models import Competition, Role, Submission
from core.settings import get_settings
from harness.platform import tiny_config
from tests.organizer_flow import account, app_on
from worker.jobs.prepare import run_preparation
from worker.jobs.score import run_scoring

pytestmark = pytest.mark.torch_runtime
API = "/api/v1"
TORCHVISION = b"""
import torch
import torchvision

def unlearning(net, retain_loader, forget_loader, val_loader):
    assert torch.__version__.startswith("2.14.1"), torch.__version__
    assert float(torchvision.ops.box_area(torch.tensor([[0.0, 0.0, 2.0, 3.0]]))) == 6.0
    return net
"""


def test_a_runtime_with_its_own_torch_scores_a_torchvision_submission(tmp_path):
    cfg = tiny_config("own-torch").model_dump(mode="json")
    cfg["runtime"] = {"packages": ["torch==2.14.1", "torchvision==0.29.1"]}
    cfg["limits"] = {"memory_mb": 16384, "setup_timeout_seconds": 300}  # a CUDA build's mappings
    cfg["scoring"]["budget_floor_seconds"] = 30.0
    text = yaml.safe_dump(cfg)
    with app_on(f"sqlite:///{tmp_path / 'arena.db'}", tmp_path / "var") as client:
        olga, pat = account(client, "olga", Role.ORGANIZER), account(client, "pat")
        r = client.post(
            f"{API}/competitions",
            content=text,
            headers={**olga, "Content-Type": "application/yaml"},
        )
        assert r.status_code == 201, r.text
        with session_scope() as s:
            cid = s.scalar(select(Competition.id).where(Competition.slug == "own-torch"))
        run_preparation(cid, get_settings(), inline=True)
        view = client.get(f"{API}/competitions/own-torch").json()
        assert view["status"] in ("ready", "open"), view["status_message"]
        assert view["runtime_packages"]["torch"] == "2.14.1"
        assert view["runtime_packages"]["torchvision"] == "0.29.1"
        client.post(f"{API}/competitions/own-torch/rules/accept", headers=pat)
        r = client.post(
            f"{API}/competitions/own-torch/submissions",
            files={"file": ("tv.py", TORCHVISION)},
            headers=pat,
        )
        assert r.status_code in (201, 202), r.text
        run_scoring(r.json()["id"], get_settings(), inline=True)
        with session_scope() as s:
            sub = s.get(Submission, r.json()["id"])
            assert sub.status == "scored", sub.failure_message
            assert sub.result["environment"]["runtime"]["torch"] == "2.14.1"
