"""The `arena` command: run the platform, and use it as a participant.

Server and token come from --url/--token or ARENA_URL/ARENA_TOKEN.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.client import ArenaClient, ClientError
from cli.organizer import competition_app, team_app
from cli.results_view import (
    local_progress,
    show_local_failure,
    show_local_result,
    show_result,
)

app = typer.Typer(help="Unlearning Arena: machine-unlearning competitions.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")
baselines_app = typer.Typer(help="The reference methods in examples/.", no_args_is_help=True)
app.add_typer(baselines_app, name="baselines")
admin_app = typer.Typer(
    help="Accounts, on the platform's own database (DATABASE_URL).", no_args_is_help=True
)
app.add_typer(admin_app, name="admin")
app.add_typer(competition_app, name="competition")
app.add_typer(team_app, name="team")
ROLES = ("admin", "organizer", "participant")
console = Console()
err = Console(stderr=True)

UrlOpt = Annotated[str, typer.Option("--url", envvar="ARENA_URL", help="Platform address.")]
TokenOpt = Annotated[
    str | None, typer.Option("--token", envvar="ARENA_TOKEN", help="API token (arena login).")
]
DEFAULT_URL = "http://127.0.0.1:8000"


def _client(url: str, token: str | None = None) -> ArenaClient:
    return ArenaClient(url, token)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


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
    secret = _password(password, True)
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


@app.command("seed-demo")
def seed_demo() -> None:
    """Create the digits-demo competition (if missing) and queue its preparation."""
    from core.db import session_scope
    from core.queue import enqueue_preparation
    from server.services.platform import seed_demo as seed

    with session_scope() as s:
        comp = seed(s)
        cid, status = comp.id, comp.status
    if status == "draft":
        enqueue_preparation(cid)
    console.print(f"demo competition digits-demo: {status}")


def _masked_db(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Listen address (default ARENA_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PORT or 8000).")] = None,
) -> None:
    """Run the platform: migrations, demo seed, one local worker and the API. Ctrl-C stops all."""
    import uvicorn
    from kombu.utils.url import maybe_sanitize_url

    from cli.serve import start_worker, stop_worker
    from core.db import session_scope
    from core.migrate import upgrade_database
    from core.settings import get_settings
    from server.services.platform import enqueue_pending, recover_interrupted, seed_demo

    settings = get_settings()
    settings.ensure_dirs()
    host = host or settings.host
    port = port or settings.port
    upgrade_database(settings.sqlalchemy_url)
    with session_scope() as s:
        if settings.seed_demo:
            seed_demo(s)
        if settings.embedded_broker:
            recover_interrupted(s)
        drafts, queued = enqueue_pending(s, resume_preparing=settings.embedded_broker)
    worker = start_worker(settings) if settings.start_worker else None
    url = f"http://{host}:{port}"
    console.print(
        f"\n[bold]Unlearning Arena[/bold] at {url}  (API docs {url}/docs)\n"
        f"database: {_masked_db(settings.sqlalchemy_url)}   broker: {maybe_sanitize_url(settings.celery_broker_url)}\n"
        f"worker: {'one local worker' if worker else 'none started (ARENA_START_WORKER=false)'}; "
        f"{drafts} competition(s) to prepare, {queued} submission(s) queued\n\n"
        f"Submit (in another terminal, after `source {Path(sys.prefix)}/bin/activate`):\n"
        "         arena register alice && export ARENA_TOKEN=$(arena login alice)\n"
        "         arena accept-rules digits-demo\n"
        "         arena submit --competition digits-demo examples/finetune.py\n"
        "Ctrl-C stops everything.\n"
    )
    try:
        uvicorn.run(
            "server.app:app",
            host=host,
            port=port,
            log_level="info",
            access_log=settings.access_log,
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
    cmd = worker_command(get_settings(), concurrency)
    os.execv(cmd[0], cmd)


# --- participants ----------------------------------------------------------------------------


def _password(password: str | None, confirm: bool) -> str:
    if password:
        return password
    env = os.environ.get("ARENA_PASSWORD")
    if env:
        return env
    return typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)


@app.command()
def register(
    username: str,
    url: UrlOpt = DEFAULT_URL,
    password: Annotated[
        str | None, typer.Option(help="Default: ARENA_PASSWORD or a prompt.")
    ] = None,
) -> None:
    """Create an account."""
    try:
        _client(url).register(username, _password(password, True))
    except ClientError as exc:
        _fail(str(exc))
    err.print(f"account {username!r} created; get a token with: arena login {username}")


@app.command()
def login(
    username: str,
    url: UrlOpt = DEFAULT_URL,
    password: Annotated[
        str | None, typer.Option(help="Default: ARENA_PASSWORD or a prompt.")
    ] = None,
) -> None:
    """Print a new API token (use it as ARENA_TOKEN)."""
    try:
        token = _client(url).token(username, _password(password, False))
    except ClientError as exc:
        _fail(str(exc))
    print(token)


def _follow(client: ArenaClient, submission_id: int, poll: float) -> dict:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("queued", total=None)
        while True:
            sub = client.submission(submission_id)
            bar.update(
                task, description=sub["status"], completed=sub["runs_done"], total=sub["n_models"]
            )
            if sub["status"] in ("scored", "failed", "cancelled"):
                return sub
            time.sleep(poll)


@app.command()
def submit(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Your .py file.")
    ],
    competition: Annotated[str, typer.Option("--competition", "-c", help="Competition slug.")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    wait: Annotated[bool, typer.Option(help="Follow the submission until it is scored.")] = True,
    poll: Annotated[float, typer.Option(help="Seconds between status checks.")] = 1.0,
    accept_rules: Annotated[
        bool, typer.Option("--accept-rules", help="Accept the competition's rules first.")
    ] = False,
) -> None:
    """Upload a submission and show its progress until the score arrives."""
    if not token:
        _fail("no token: run `arena login USERNAME` and pass --token or set ARENA_TOKEN")
    client = _client(url, token)
    try:
        if accept_rules:
            client.accept_rules(competition)
        accepted = client.submit(competition, file)
        err.print(f"submission {accepted['id']} accepted ({accepted['status']})")
        if not wait:
            print(accepted["id"])
            return
        sub = _follow(client, accepted["id"], poll)
    except ClientError as exc:
        _fail(str(exc))
    show_result(sub)
    if sub["status"] != "scored":
        raise typer.Exit(1)


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "unlearning-arena"


@app.command("score-local")
def score_local_cmd(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Your .py file.")
    ],
    competition: Annotated[
        str, typer.Option("--competition", "-c", help="A competition with public data.")
    ] = "digits-demo",
    n_models: Annotated[
        int | None,
        typer.Option(
            "--n-models", "-n", help="Runs and references (default: the competition's N)."
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Where prepared models are kept (default ~/.cache/unlearning-arena)."),
    ] = None,
    threads: Annotated[int, typer.Option(help="CPU threads (0 = all cores).")] = 0,
) -> None:
    """Score a submission locally on public data, with the platform's own runner and scoring."""
    from cli.local import local_config, score_local
    from core.errors import DomainError
    from server.services.uploads import validate_upload

    try:
        cfg = local_config(competition, n_models)
        validate_upload(file.name, file.read_bytes(), 10**9)
    except (ValueError, DomainError) as exc:
        _fail(getattr(exc, "detail", str(exc)))
    with local_progress() as progress:
        local = score_local(
            file, cfg, cache_dir or _default_cache(), threads=threads, progress=progress
        )
    err.print(f"budget per run: {local.budget_seconds:.2f} s; full run logs: {local.log_dir}")
    if local.failure is not None:
        show_local_failure(local)
        raise typer.Exit(1)
    show_local_result(local, cfg.scoring.n_public)


@baselines_app.command("run")
def baselines_run(
    competition: Annotated[str, typer.Option("--competition", "-c", help="Competition slug.")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    only: Annotated[
        str | None, typer.Option(help="Comma-separated method names (default: all).")
    ] = None,
    markdown_out: Annotated[
        Path | None, typer.Option("--markdown", help="Also write the table here.")
    ] = None,
) -> None:
    """Submit every baseline method through the platform and print their scores side by side."""
    import datetime

    from cli.baselines import markdown, run_baselines

    if not token:
        _fail("no token: run `arena login USERNAME` and pass --token or set ARENA_TOKEN")
    client = _client(url, token)
    try:
        n_models = client.competition(competition)["n_models"]
        rows = run_baselines(
            client,
            competition,
            only.split(",") if only else None,
            lambda c, sid: _follow(c, sid, 1.0),
        )
    except ClientError as exc:
        _fail(str(exc))
    table = Table(title=f"Baselines on {competition} (N = {n_models})")
    for col in (
        "method",
        "score",
        "95% interval",
        "F",
        "RA ratio",
        "TA ratio",
        "RF-JSD×1e4",
        "s/run",
    ):
        table.add_column(col)
    for r in sorted(rows, key=lambda r: -(r.get("score") or -1)):
        if r["status"] != "scored":
            table.add_row(r["method"], "failed", r["failure"][:60], "", "", "", "", "")
            continue
        table.add_row(
            r["method"],
            f"{r['score']:.4f}",
            f"[{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]",
            f"{r['F']:.4f}",
            f"{r['RA ratio']:.4f}",
            f"{r['TA ratio']:.4f}",
            f"{r['RF-JSD×1e4']:.1f}",
            f"{r['s/run']:.2f}",
        )
    console.print(table)
    if markdown_out:
        today = datetime.date.today().isoformat()
        markdown_out.write_text(
            markdown(
                rows,
                competition,
                n_models,
                f"arena baselines run --competition {competition}",
                today,
            )
        )
        err.print(f"table written to {markdown_out}")


@app.command()
def status(submission_id: int, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Show a submission's status and score."""
    try:
        show_result(_client(url, token).submission(submission_id))
    except ClientError as exc:
        _fail(str(exc))


@app.command()
def compute(slug: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Device time spent in a competition: yours (or your team's); organizers see everyone's
    and the preparation's."""
    try:
        totals = _client(url, token).compute(slug)
    except ClientError as exc:
        _fail(str(exc))
    table = Table(
        title=f"Compute in {slug}: {totals['total_device_seconds'] / 3600:.3f} device-hours"
    )
    for col in ("entrant", "submissions", "device-seconds", "of which platform failures"):
        table.add_column(col)
    for e in totals["entrants"]:
        table.add_row(
            e["entrant"] + (" (team)" if e["team"] else ""),
            str(e["submissions"]),
            f"{e['device_seconds']:.1f}",
            f"{e['platform_failures_device_seconds']:.1f}",
        )
    if totals.get("preparation_device_seconds") is not None:
        table.add_row("(preparation)", "", f"{totals['preparation_device_seconds']:.1f}", "")
    console.print(table)


@app.command("accept-rules")
def accept_rules_cmd(slug: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Print a competition's rules and accept them (needed before your first submission)."""
    client = _client(url, token)
    try:
        console.print(client.competition(slug)["participation_rules"])
        client.accept_rules(slug)
    except ClientError as exc:
        _fail(str(exc))
    err.print(f"rules of {slug!r} accepted")


@app.command()
def final(
    submission_id: int,
    unset: Annotated[
        bool, typer.Option("--unset", help="Remove it from your final picks.")
    ] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Choose a scored submission as one of your final picks for the private leaderboard."""
    try:
        _client(url, token).call(
            "POST", f"/submissions/{submission_id}/final", json={"final": not unset}
        )
    except ClientError as exc:
        _fail(str(exc))
    err.print(f"submission {submission_id} {'is no longer' if unset else 'is'} a final pick")


@app.command()
def cancel(submission_id: int, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Cancel a queued submission (organizers: also a running one)."""
    try:
        sub = _client(url, token).call("POST", f"/submissions/{submission_id}/cancel")
    except ClientError as exc:
        _fail(str(exc))
    err.print(f"submission {submission_id} is {sub['status']}")


@app.command()
def leaderboard(
    slug: str,
    board: Annotated[str, typer.Option(help="public, or private after the close")] = "public",
    phase: Annotated[str | None, typer.Option(help="A phase's leaderboard.")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Print a competition's leaderboard."""
    try:
        data = _client(url, token).leaderboard(slug, board, phase)
    except ClientError as exc:
        _fail(str(exc))
    board_data = data
    table = Table(
        title=f"{slug} {board} leaderboard {board_data['phase_board']} (N = {board_data['n_models']})"
    )
    for col in ("#", "name", "score", "95% interval", "entries"):
        table.add_column(col)
    for r in board_data["rows"]:
        ci = r.get("score_ci") or [None, None]
        table.add_row(
            str(r["rank"] or ""),
            r["name"] + (" (reference)" if r["reference"] else ""),
            f"{r['score']:.4f}" + (" ≈" if r["tied_with_next"] else "")
            if r["score"] is not None
            else "",
            f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci[0] is not None else "",
            str(r["submissions"] or ""),
        )
    console.print(table)


@app.command()
def competitions(url: UrlOpt = DEFAULT_URL) -> None:
    """List competitions."""
    try:
        rows = _client(url).competitions()
    except ClientError as exc:
        _fail(str(exc))
    for c in rows:
        console.print(f"{c['slug']:24} {c['status']:10} N={c['n_models']:<5} {c['title']}")


def main() -> None:  # pragma: no cover
    sys.exit(app())
