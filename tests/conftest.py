"""Shared fixtures. The in-process tests use their own var dir (SQLite + filesystem broker);
end-to-end tests start the real platform (`arena serve`) in a subprocess."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Settings are read once per process: point this test process at a private var dir first.
_VAR = Path(tempfile.mkdtemp(prefix="arena-tests-"))
os.environ["ARENA_VAR_DIR"] = str(_VAR)
# `arena login` saves credentials in the user's config directory: the tests' own, never ~/.config
os.environ["XDG_CONFIG_HOME"] = str(_VAR / "config")
# boards are rebuilt on every read in tests (the cache has its own tests)
os.environ["ARENA_LEADERBOARD_CACHE_SECONDS"] = "0"
for _name in ("DATABASE_URL", "BROKER_URL", "ARENA_DATABASE_URL", "ARENA_BROKER_URL"):
    os.environ.pop(_name, None)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def var_dir() -> Path:
    return _VAR


@pytest.fixture(scope="session")
def migrated_db(var_dir):
    from core.migrate import upgrade_database
    from core.settings import get_settings

    settings = get_settings()
    settings.ensure_dirs()
    upgrade_database(settings.sqlalchemy_url)
    return settings.sqlalchemy_url
