"""Backup and restore of the database and the artefacts (files under ARENA_VAR_DIR/storage).

``arena backup DIR`` writes ``DIR/database.sqlite`` (SQLite's online backup API) or
``DIR/database.dump`` (``pg_dump --format=custom``), ``DIR/storage.tar.gz`` and
``DIR/manifest.json``. ``arena restore DIR`` puts both back (stop the platform first);
restoring over a non-empty database needs ``--force``. Tested once per backend by
``tests/e2e/test_retention_and_backup.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from core.settings import Settings
from core.version import code_version


class BackupError(Exception):
    pass


def _pg_dsn(url: str) -> tuple[str, dict[str, str]]:
    """The libpq address without its password, and the environment that carries the password
    (``PGPASSWORD``): a password on a command line is readable by every user of the machine."""
    parsed = make_url(url).set(drivername="postgresql")
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    bare = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    )
    return bare.render_as_string(hide_password=False), env


def _run_pg(tool: str, args: list[str], env: dict[str, str]) -> None:
    if shutil.which(tool, path=env.get("PATH")) is None:
        raise BackupError(
            f"{tool} is not installed here: install the PostgreSQL client tools (Debian: "
            "`apt install postgresql-client`, of the server's major version or newer) and run "
            "again."
        )
    out = subprocess.run([tool, *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise BackupError(f"{tool} failed: {out.stderr.strip()[:2000]}")


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def backup(settings: Settings, dest: Path) -> dict[str, Any]:
    url = settings.sqlalchemy_url
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty; back up into a new directory")
    dest.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        source = sqlite3.connect(_sqlite_path(url))
        target = sqlite3.connect(dest / "database.sqlite")
        with target:
            source.backup(target)
        source.close()
        target.close()
        kind = "sqlite"
    else:
        dsn, env = _pg_dsn(url)
        _run_pg(
            "pg_dump",
            ["--format=custom", "--no-owner", "--file", str(dest / "database.dump"), dsn],
            env,
        )
        kind = "postgresql"
    with tarfile.open(dest / "storage.tar.gz", "w:gz") as tar:
        if settings.storage_dir.exists():
            tar.add(settings.storage_dir, arcname="storage")
    manifest = {"database": kind, "code_version": code_version()}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def restore(settings: Settings, src: Path, force: bool = False) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((src / "manifest.json").read_text())
    url = settings.sqlalchemy_url
    if manifest["database"] == "sqlite":
        if not url.startswith("sqlite"):
            raise BackupError("the backup is of SQLite but DATABASE_URL is not")
        target = _sqlite_path(url)
        if target.exists() and target.stat().st_size and not force:
            raise BackupError(f"{target} exists; pass --force to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        shutil.copyfile(src / "database.sqlite", target)
    else:
        if url.startswith("sqlite"):
            raise BackupError("the backup is of PostgreSQL but DATABASE_URL is SQLite")
        dsn, env = _pg_dsn(url)
        args = ["--no-owner", "--dbname", dsn]
        if force:
            args[0:0] = ["--clean", "--if-exists"]
        _run_pg("pg_restore", [*args, str(src / "database.dump")], env)
    storage = settings.storage_dir
    if storage.exists():
        if any(storage.iterdir()) and not force:
            raise BackupError(f"{storage} is not empty; pass --force to replace it")
        shutil.rmtree(storage)
    with tarfile.open(src / "storage.tar.gz", "r:gz") as tar:
        tar.extractall(storage.parent, filter="data")
    storage.mkdir(parents=True, exist_ok=True)
    return manifest
