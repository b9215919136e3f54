"""Competition config validation and the CLI's error messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.competition_config import CompetitionConfig, demo_config
from core.settings import Settings
from harness.platform import ROOT, free_port

ARENA = str(Path(sys.executable).parent / "arena")


def test_demo_config_defaults_follow_the_scoring_spec():
    cfg = demo_config()
    assert cfg.slug == "digits-demo" and cfg.scoring.staged
    assert (cfg.scoring.n_public, cfg.scoring.n_references) == (64, 512)
    assert cfg.scoring.budget_fraction == 0.10 and cfg.scoring.budget_floor_seconds > 0
    assert (
        cfg.scoring.rules == "official"
        and cfg.scoring.delta == 1e-5
        and cfg.scoring.epsilon_cap == 50
    )
    assert cfg.scoring.over_budget == "fail" and cfg.scoring.effective_min_runs == 32


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ({"slug": "Bad Slug"}, "slug"),
        ({"scoring": {"n_models": 1}}, "n_models"),
        ({"scoring": {"rules": "fancy"}}, "rules"),
        ({"split": {"test_fraction": 0.5, "val_fraction": 0.45}}, "leave at least 10%"),
        ({"recipe": {"epochs": 0}}, "epochs"),
        ({"unknown_key": 1}, "unknown_key"),
    ],
)
def test_bad_config_names_the_problem(patch, fragment):
    data = {"slug": "ok-slug", "title": "t"} | patch
    with pytest.raises(ValidationError, match=fragment):
        CompetitionConfig.model_validate(data)


def test_settings_defaults_and_url_normalisation(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    s = Settings(var_dir=tmp_path)
    assert s.sqlalchemy_url == f"sqlite:///{tmp_path / 'arena.db'}"
    assert s.embedded_broker and s.port == 8000
    pg = Settings(var_dir=tmp_path, database_url="postgresql://u@h:5432/d")
    assert pg.sqlalchemy_url == "postgresql+psycopg://u@h:5432/d"
    assert not Settings(var_dir=tmp_path, broker_url="redis://h:6379/0").embedded_broker


def test_cli_without_a_server_says_what_to_do():
    url = f"http://127.0.0.1:{free_port()}"
    out = subprocess.run(
        [
            ARENA,
            "submit",
            "--competition",
            "digits-demo",
            str(ROOT / "examples" / "identity.py"),
            "--url",
            url,
            "--token",
            "t",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "Cannot reach the platform" in out.stderr and "Traceback" not in out.stderr


def test_cli_submit_needs_a_token():
    out = subprocess.run(
        [ARENA, "submit", "-c", "digits-demo", str(ROOT / "examples" / "identity.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 1 and "arena login" in out.stderr


def test_score_local_scores_an_example_with_the_platform_runner(tmp_path):
    out = subprocess.run(
        [
            ARENA,
            "score-local",
            str(ROOT / "examples" / "retrain.py"),
            "--n-models",
            "4",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    assert "scored" in out.stdout and "MIA" in out.stdout and "ε histogram" in out.stdout
    assert "public data at N = 4 (the competition: N = 64" in out.stderr
    assert "Run times on this machine" in out.stderr
    assert "clock: CPU time" in out.stderr  # the server's clock, said
    assert list((tmp_path / "cache").glob("digits-demo-*/local-runs/run-00000.log"))


def test_score_local_reports_a_crash_with_logs(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def unlearning(net, r, f, v):\n    print('debug output')\n    raise KeyError('oops')\n"
    )
    out = subprocess.run(
        [ARENA, "score-local", str(bad), "--n-models", "4", "--cache-dir", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 1
    assert "crashed" in out.stderr and "KeyError" in out.stderr
    assert "KeyError: 'oops'" in out.stderr  # on public data the message itself is shown
    assert "debug output" in out.stderr
    log = next((tmp_path / "cache").glob("digits-demo-*/local-runs/run-00000.log")).read_text()
    assert "debug output" in log  # locally, the full log is the participant's


def test_score_local_rejects_unknown_competitions_and_bad_files(tmp_path):
    out = subprocess.run(
        [ARENA, "score-local", str(ROOT / "examples" / "identity.py"), "-c", "hidden-comp"]
        + ["--url", "http://127.0.0.1:9"],  # nothing there: the kit cannot be fetched
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and "cannot get the starter kit of 'hidden-comp'" in out.stderr
    bad = tmp_path / "bad.py"
    bad.write_text("def unlearning(net:\n")
    out = subprocess.run(
        [ARENA, "score-local", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1 and "Syntax error" in out.stderr


def test_admin_commands_create_and_promote_accounts(tmp_path):
    env = {**os.environ, "ARENA_VAR_DIR": str(tmp_path / "var"), "ARENA_PASSWORD": "long enough pw"}
    env.pop("DATABASE_URL", None)

    def arena(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([ARENA, *args], env=env, capture_output=True, text=True, timeout=120)

    assert arena("db", "upgrade").returncode == 0
    out = arena("admin", "create-user", "root", "--role", "admin")
    assert out.returncode == 0 and "created admin 'root'" in out.stdout
    assert arena("admin", "create-user", "root").returncode == 1  # taken
    out = arena("admin", "set-role", "root", "organizer")
    assert out.returncode == 0 and "organizer" in out.stdout
    out = arena("admin", "set-role", "ghost", "organizer")
    assert out.returncode == 1 and "No user 'ghost'" in out.stderr
    out = arena("admin", "set-password", "root", "--password", "another long pw")
    assert out.returncode == 0 and "password of 'root' reset" in out.stdout
    out = arena("admin", "set-password", "root", "--password", "short")
    assert out.returncode == 1 and "at least 8 characters" in out.stderr
    out = arena("admin", "set-password", "ghost", "--password", "another long pw")
    assert out.returncode == 1 and "No user 'ghost'" in out.stderr
    out = arena("admin", "create-user", "x", "--role", "king")
    assert out.returncode == 1 and "--role must be one of" in out.stderr
    out = subprocess.run(
        [ARENA, "admin", "create-user", "shorty"],
        env={**env, "ARENA_PASSWORD": "short"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1 and "password" in out.stderr and "Traceback" not in out.stderr
