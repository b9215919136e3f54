"""Retention (compacted logs, purged files of long-closed competitions) and a backup restored
once on SQLite and once on PostgreSQL, through the CLI."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg

from core.db import session_scope
from core.models import Submission, User, utcnow
from core.retention import apply_retention, read_log
from core.settings import get_settings
from core.storage import Storage
from harness.platform import ROOT, tiny_config
from harness.services import fresh_postgres_database
from server.services.platform import seed_competition

ARENA = str(Path(sys.executable).parent / "arena")


def _submission(comp_id: int, user_id: int, status: str, finished_days_ago: float) -> int:
    with session_scope() as s:
        sub = Submission(
            competition_id=comp_id,
            user_id=user_id,
            filename="m.py",
            kind="py",
            sha256="0" * 64,
            size_bytes=1,
            n_models=4,
            status=status,
            finished_at=utcnow() - timedelta(days=finished_days_ago),
        )
        s.add(sub)
        s.flush()
        sid = sub.id
    storage = Storage(get_settings())
    storage.submission_code(sid).parent.mkdir(parents=True, exist_ok=True)
    storage.submission_code(sid).write_text("def unlearning(a, b, c, d):\n    return a\n")
    log = storage.run_log(sid, 0)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("epoch 1 loss 0.5\n" * 2000)
    storage.run_outputs(sid, 0).parent.mkdir(parents=True, exist_ok=True)
    storage.run_outputs(sid, 0).write_bytes(b"x" * 1000)
    return sid


def test_retention_compacts_logs_and_purges_long_closed_competitions(migrated_db):
    settings = get_settings()
    storage = Storage(settings)
    with session_scope() as s:
        old = seed_competition(s, tiny_config("ret-old"))
        old.status, old.closed_at = "closed", utcnow() - timedelta(days=settings.retention_days + 1)
        live = seed_competition(s, tiny_config("ret-live"))
        user = User(username="keeper", password_hash="x")
        s.add(user)
        s.flush()
        ids = old.id, live.id, user.id
    purged = _submission(ids[0], ids[2], "scored", 200)
    compacted = _submission(ids[1], ids[2], "scored", settings.log_compact_days + 1)
    recent = _submission(ids[1], ids[2], "scored", 0)

    with session_scope() as s:
        dry = apply_retention(s, settings, dry_run=True)
    assert dry.submissions_purged == 1 and dry.logs_compacted >= 1
    assert storage.submission_dir(purged).exists() and storage.run_log(compacted, 0).exists()

    with session_scope() as s:
        report = apply_retention(s, settings)
    assert report.competitions == ["ret-old"] and report.bytes_freed > 0
    assert not storage.submission_dir(purged).exists()
    assert not storage.run_log(compacted, 0).exists()
    assert read_log(storage.run_log(compacted, 0)).startswith("epoch 1 loss 0.5")  # still readable
    assert storage.run_log(recent, 0).exists() and storage.submission_code(compacted).exists()
    with session_scope() as s:
        assert s.get(Submission, purged).status == "scored"  # rows and scores stay


def _arena(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [ARENA, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert (out.returncode == 0) == ok, (args, out.stdout, out.stderr)
    return out


def _round_trip(env: dict[str, str], restore_env: dict[str, str], tmp_path: Path) -> None:
    _arena(env, "db", "upgrade")
    _arena(env, "admin", "create-user", "backed-up", "--role", "organizer")
    kept = Path(env["ARENA_VAR_DIR"]) / "storage" / "datasets" / "x" / "dataset.npz"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(b"hidden data")
    _arena(env, "backup", str(tmp_path / "bk"))
    assert {p.name for p in (tmp_path / "bk").iterdir()} >= {"storage.tar.gz", "manifest.json"}
    _arena(env, "backup", str(tmp_path / "bk"), ok=False)  # never over an existing backup

    _arena(restore_env, "restore", str(tmp_path / "bk"))
    restored = Path(restore_env["ARENA_VAR_DIR"]) / "storage" / "datasets" / "x" / "dataset.npz"
    assert restored.read_bytes() == b"hidden data"
    _arena(restore_env, "restore", str(tmp_path / "bk"), ok=False)  # not over data without --force
    _arena(restore_env, "restore", str(tmp_path / "bk"), "--force")


def test_backup_and_restore_on_sqlite(tmp_path):
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
    env = {**base, "ARENA_VAR_DIR": str(tmp_path / "var"), "ARENA_PASSWORD": "backup-pass"}
    fresh = {**base, "ARENA_VAR_DIR": str(tmp_path / "new-var")}
    _round_trip(env, fresh, tmp_path)
    with sqlite3.connect(tmp_path / "new-var" / "arena.db") as db:
        assert db.execute("select role from users where username = 'backed-up'").fetchone() == (
            "organizer",
        )


def test_backup_and_restore_on_postgres(tmp_path):
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
    with fresh_postgres_database() as old, fresh_postgres_database() as new:
        env = {
            **base,
            "ARENA_VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": old,
            "ARENA_PASSWORD": "backup-pass",
        }
        fresh = {**base, "ARENA_VAR_DIR": str(tmp_path / "new-var"), "DATABASE_URL": new}
        _round_trip(env, fresh, tmp_path)
        with psycopg.connect(new) as db:
            row = db.execute("select role from users where username = 'backed-up'").fetchone()
            assert row == ("organizer",)
