"""The two commands' first failure a newcomer meets: no python3-venv. The Makefile checks for
it before anything else and its first line says the one command to run."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_missing_python3_venv_is_the_first_line(tmp_path):
    fake = tmp_path / "python3"  # a Python whose ensurepip is missing, as Debian's without it
    fake.write_text('#!/bin/sh\necho "No module named ensurepip" >&2\nexit 1\n')
    fake.chmod(0o755)
    out = subprocess.run(
        ["make", "-s", f"PYTHON={fake}", f"VENV={tmp_path / 'venv'}", "install"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    first = (out.stdout + out.stderr).strip().splitlines()[0]
    assert "python3-venv is missing" in first and "sudo apt-get install python3-venv" in first
    assert not (tmp_path / "venv").exists()


def test_make_demo_installs_no_test_tools():
    makefile = (ROOT / "Makefile").read_text()
    stamp = makefile.split("$(STAMP): pyproject.toml")[1].split("\n\n")[0]
    assert "-e ." in stamp and ".[dev]" not in stamp  # the platform alone
    demo = next(line for line in makefile.splitlines() if line.startswith("demo:"))
    assert "DEV_STAMP" not in demo and "test-system" not in demo
    test = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "$(DEV_STAMP)" in test and "test-system" in test
