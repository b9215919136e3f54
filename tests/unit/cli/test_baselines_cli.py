"""`arena baselines run` through a live platform (a subset of the methods, on a tiny competition)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.platform import ROOT, running_platform, tiny_config, wait_for_competition
from harness.scenario import create_competition_in, participant

pytestmark = pytest.mark.e2e


def test_baselines_run_prints_and_writes_the_table(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    cfg = tiny_config(
        "tiny-baselines", budget_floor_seconds=5.0
    )  # retrain's 30 epochs, on a busy CI box
    cfg.leaderboard.public_fraction = 0.9  # a participant sees public scores: most examples
    create_competition_in(f"sqlite:///{var / 'arena.db'}", cfg)
    with running_platform({"ARENA_VAR_DIR": str(var)}, tmp_path / "serve.log") as url:
        wait_for_competition(url, "tiny-baselines")
        token = participant(url, "baseliner").headers["Authorization"].split()[1]
        out = subprocess.run(
            [
                str(Path(sys.executable).parent / "arena"),
                "baselines",
                "run",
                "-c",
                "tiny-baselines",
                "--only",
                "identity,retrain",
                "--markdown",
                str(tmp_path / "b.md"),
            ],
            env={**os.environ, "ARENA_URL": url, "ARENA_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
        )
    assert out.returncode == 0, out.stderr + out.stdout
    table = (tmp_path / "b.md").read_text()
    lines = [
        line
        for line in table.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip() != "method"
    ]
    assert [line.split("|")[1].strip() for line in lines] == [
        "retrain",
        "identity",
    ]  # sorted by score
    assert "| identity | 0.0000 |" in table and "N = 4" in table
