"""End to end on the embedded default: SQLite + filesystem broker + a local Celery worker."""

from __future__ import annotations

import pytest

from harness.platform import running_platform, tiny_config
from harness.scenario import create_competition_in
from tests.e2e.scenario import run_scenario

pytestmark = pytest.mark.e2e


def test_submission_scored_end_to_end_embedded(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    create_competition_in(f"sqlite:///{var / 'arena.db'}", tiny_config("tiny-embedded"))
    with running_platform({"ARENA_VAR_DIR": str(var)}, tmp_path / "serve.log") as url:
        run_scenario(url, "tiny-embedded", tmp_path, use_cli=True)
    assert (
        "Cold shutdown" in (tmp_path / "serve.log").read_text()
        or "Warm shutdown" in (tmp_path / "serve.log").read_text()
    )
