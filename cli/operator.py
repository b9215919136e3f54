"""Operator commands: run the platform (serve, worker), its database, accounts and upkeep."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import (
    ROLES,
    _fail,
    admin_app,
    app,
    console,
    db_app,
    password_prompt,
    styled,
)

# --- running the platform ------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to DATABASE_URL (default: SQLite under ./var)."""
    from core.migrate import upgrade_database
    from core.settings import get_settings

    settings = get_settings()
    settings.ensure_dirs()
    upgrade_database(settings.sqlalchemy_url)
    console.print("database is at the newest migration")


@admin_app.command("create-user")
def admin_create_user(
    username: str,
    role: Annotated[str, typer.Option(help="admin, organizer or participant.")] = "participant",
    password: Annotated[
        str | None, typer.Option(help="Default: ARENA_PASSWORD or a prompt.")
    ] = None,
) -> None:
    """Create an account with a role (the first admin comes from here)."""
    from pydantic import ValidationError

    from core.db import session_scope
    from core.errors import DomainError
    from core.models import Role
    from server.schemas import UserCreate
    from server.services.users import create_user

    if role not in ROLES:
        _fail(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    secret = password_prompt(password, True)
    try:
        UserCreate(username=username, password=secret)
        with session_scope() as s:
            create_user(s, username, secret, Role(role))
    except DomainError as exc:
        _fail(exc.detail)
    except ValidationError as exc:  # bad username or password
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    console.print(f"created {role} {username!r}")


@admin_app.command("set-role")
def admin_set_role(username: str, role: str) -> None:
    """Promote or demote an account (admin, organizer or participant)."""
    from core.db import session_scope
    from core.errors import DomainError
    from core.models import Role
    from server.services.users import set_role

    if role not in ROLES:
        _fail(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    try:
        with session_scope() as s:
            set_role(s, username, Role(role))
    except DomainError as exc:
        _fail(exc.detail)
    console.print(f"{username!r} is now {role}")


@admin_app.command("set-password")
def admin_set_password(
    username: str,
    password: Annotated[
        str | None, typer.Option(help="Default: ARENA_PASSWORD or a prompt.")
    ] = None,
) -> None:
    """Reset an account's password; its tokens and sessions are all revoked."""
    from core.db import session_scope
    from core.errors import DomainError
    from server.services.users import reset_password

    secret = password_prompt(password, True)
    try:
        with session_scope() as s:
            revoked = reset_password(s, username, secret)
    except DomainError as exc:
        _fail(exc.detail)
    console.print(f"password of {username!r} reset; {revoked} token(s) and session(s) revoked")


@app.command("seed-demo")
def seed_demo() -> None:
    """Create the digits-demo competition (if missing) and queue its preparation."""
    from core.db import session_scope
    from core.queue import enqueue_preparation
    from core.settings import get_settings
    from core.storage import Storage
    from server.services.platform import seed_demo as seed

    with session_scope() as s:
        comp = seed(s, Storage(get_settings()))
        cid, status = comp.id, comp.status
    if status == "draft":
        enqueue_preparation(cid)
    console.print(f"demo competition digits-demo: {status}")


def _masked_db(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _banner(settings, url: str, worker: bool, drafts: int, queued: int, sandbox) -> None:
    from kombu.utils.url import maybe_sanitize_url

    console.print(styled("\n", ("Unlearning Arena", "bold")), end="")
    console.print(
        f" at {url}  (API docs {url}/docs)\n"
        f"database: {_masked_db(settings.sqlalchemy_url)}   broker: {maybe_sanitize_url(settings.celery_broker_url)}\n"
        f"worker: {'one local worker' if worker else 'none started (ARENA_START_WORKER=false)'}; "
        f"{drafts} competition(s) to prepare, {queued} submission(s) queued\n"
        + "\n".join(sandbox.lines())
        + "\n\n"
        f"Submit (in another terminal, after `source {Path(sys.prefix)}/bin/activate`):\n"
        "         arena register alice && export ARENA_TOKEN=$(arena login alice)\n"
        "         arena accept-rules digits-demo\n"
        "         arena submit --competition digits-demo examples/finetune.py\n"
        "Ctrl-C stops everything.\n"
    )


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Listen address (default ARENA_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PORT or 8000).")] = None,
) -> None:
    """Run the platform: migrations, demo seed, one local worker and the API. Ctrl-C stops all."""
    import uvicorn

    from cli.serve import start_worker, stop_worker
    from core import logs
    from core.db import session_scope
    from core.migrate import upgrade_database
    from core.settings import get_settings
    from core.storage import Storage
    from server.services.platform import enqueue_pending, recover_interrupted, seed_demo
    from worker.sandbox import readiness

    settings = get_settings()
    settings.ensure_dirs()
    sandbox = readiness.check(
        settings.sandbox_user, settings.unsafe_no_sandbox, settings.worker_threads
    )
    host = host or settings.host
    port = port or settings.port
    upgrade_database(settings.sqlalchemy_url)
    with session_scope() as s:
        if settings.seed_demo:
            seed_demo(s, Storage(settings))
        if settings.embedded_broker:
            recover_interrupted(s)
        drafts, queued = enqueue_pending(s, resume_preparing=settings.embedded_broker)
    worker = start_worker(settings) if settings.start_worker else None
    _banner(settings, f"http://{host}:{port}", worker is not None, drafts, queued, sandbox)
    log_config: dict | None = uvicorn.config.LOGGING_CONFIG
    if settings.log_format == "json":  # the API's records (uvicorn's included) as the workers'
        logs.configure("json")
        log_config = None
    try:
        uvicorn.run(
            "server.app:app",
            host=host,
            port=port,
            log_level="info",
            access_log=settings.access_log,
            log_config=log_config,
        )
    finally:
        if worker is not None:
            console.print("stopping the worker …")
            stop_worker(worker)


@app.command()
def retention(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, delete nothing.")] = False,
) -> None:
    """Apply the retention policy (ARENA_RETENTION_DAYS, ARENA_LOG_COMPACT_DAYS)."""
    from core.db import session_scope
    from core.retention import apply_retention
    from core.settings import get_settings

    with session_scope() as s:
        report = apply_retention(s, get_settings(), dry_run=dry_run)
    console.print(
        f"{'would compact' if dry_run else 'compacted'} {report.logs_compacted} logs; "
        f"{'would purge' if dry_run else 'purged'} files of {report.submissions_purged} submissions and "
        f"{report.datasets_purged} datasets ({report.bytes_freed:,} bytes)"
    )


@app.command()
def backup(dest: Path) -> None:
    """Back up the database and the artefacts into the new directory DEST."""
    from core.backup import BackupError
    from core.backup import backup as run_backup
    from core.settings import get_settings

    try:
        manifest = run_backup(get_settings(), dest)
    except BackupError as exc:
        _fail(str(exc))
    console.print(f"backed up ({manifest['database']}) to {dest}")


@app.command()
def restore(
    src: Path,
    force: Annotated[bool, typer.Option("--force", help="Replace existing data.")] = False,
) -> None:
    """Restore a backup made by `arena backup` (stop the platform first)."""
    from core.backup import BackupError
    from core.backup import restore as run_restore
    from core.settings import get_settings

    try:
        manifest = run_restore(get_settings(), src, force=force)
    except BackupError as exc:
        _fail(str(exc))
    console.print(f"restored ({manifest['database']}) from {src}")


@app.command()
def reap() -> None:
    """Requeue lost work once (workers do this every ARENA_REAPER_INTERVAL_SECONDS)."""
    from core.settings import get_settings
    from worker.jobs.reap import reap as reap_once

    console.print(reap_once(get_settings()))


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Tasks at once (keep 1 on a GPU).")] = 1,
    hardware_class: Annotated[
        str | None,
        typer.Option(
            "--hardware-class",
            help="Declare this worker's hardware class (default: ARENA_HARDWARE_CLASS, else "
            "detected, e.g. cpu-2t or cuda-nvidia-h100-80gb-hbm3-16t). It takes chunks only "
            "from that class's queue.",
        ),
    ] = None,
    gpu: Annotated[
        str | None,
        typer.Option(
            help="Run on this GPU only (sets CUDA_VISIBLE_DEVICES; one worker per GPU, one run "
            "at a time)."
        ),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads per run (default: ARENA_WORKER_THREADS).")
    ] = None,
) -> None:
    """Run one Celery worker (for deployments with a real broker)."""
    from cli.serve import worker_command
    from core.settings import get_settings

    if hardware_class is not None:
        os.environ["ARENA_HARDWARE_CLASS"] = hardware_class
    if threads is not None:
        os.environ["ARENA_WORKER_THREADS"] = str(threads)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        concurrency = 1
    get_settings.cache_clear()
    settings = get_settings()
    from worker.sandbox import readiness

    report = readiness.check(
        settings.sandbox_user, settings.unsafe_no_sandbox, settings.worker_threads
    )
    console.print("\n".join(report.lines()))
    cmd = worker_command(settings, concurrency)
    os.execv(cmd[0], cmd)


# --- participants ----------------------------------------------------------------------------
