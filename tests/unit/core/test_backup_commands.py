"""`arena backup|restore` on PostgreSQL: the password never reaches a command line, and a missing
client tool is a clear error (the real tools run in tests/e2e/test_retention_and_backup.py)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from core.backup import BackupError, backup, restore
from core.settings import Settings

RECORDER = """#!/bin/sh
# stands in for pg_dump / pg_restore: records how it was called, writes the dump it was asked for
python3 - "$0" "$@" <<'PY'
import json, os, sys
out = os.environ["RECORD_TO"]
with open(out, "a") as fh:
    fh.write(json.dumps({"tool": os.path.basename(sys.argv[1]), "argv": sys.argv[2:],
                         "pgpassword": os.environ.get("PGPASSWORD")}) + "\\n")
if "--file" in sys.argv:
    open(sys.argv[sys.argv.index("--file") + 1], "wb").write(b"dump")
PY
"""


def _settings(tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {
            "database_url": "postgresql://arena:s3cret-pw@127.0.0.1:5432/arena",
            "var_dir": str(tmp_path / "var"),
        }
    )


def _tools(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("pg_dump", "pg_restore"):
        script = bin_dir / tool
        script.write_text(RECORDER)
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_the_password_travels_in_the_environment_not_on_the_command_line(tmp_path, monkeypatch):
    record = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{_tools(tmp_path)}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("RECORD_TO", str(record))
    settings = _settings(tmp_path)
    manifest = backup(settings, tmp_path / "backup")
    assert manifest["database"] == "postgresql"
    restore(settings, tmp_path / "backup", force=True)
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert [c["tool"] for c in calls] == ["pg_dump", "pg_restore"]
    for call in calls:
        assert not any("s3cret-pw" in arg for arg in call["argv"]), call["argv"]
        assert call["pgpassword"] == "s3cret-pw"
        assert "postgresql://arena@127.0.0.1:5432/arena" in call["argv"]


def test_a_missing_client_tool_says_what_to_install(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(BackupError) as info:
        backup(_settings(tmp_path), tmp_path / "backup")
    assert "pg_dump is not installed" in str(info.value)
    assert "apt install postgresql-client" in str(info.value)
