"""What every `arena` command shares: the command tree, the options, output and failure."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli import credentials
from cli.client import ArenaClient

app = typer.Typer(help="Unlearning Arena: machine-unlearning competitions.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")
baselines_app = typer.Typer(help="The reference methods in examples/.", no_args_is_help=True)
app.add_typer(baselines_app, name="baselines")
admin_app = typer.Typer(
    help="Accounts, on the platform's own database (DATABASE_URL).", no_args_is_help=True
)
app.add_typer(admin_app, name="admin")
ROLES = ("admin", "organizer", "participant")
console = Console()
err = Console(stderr=True)

UrlOpt = Annotated[str, typer.Option("--url", envvar="ARENA_URL", help="Platform address.")]
TokenOpt = Annotated[
    str | None, typer.Option("--token", envvar="ARENA_TOKEN", help="API token (arena login).")
]
DEFAULT_URL = "http://127.0.0.1:8000"


def _client(url: str, token: str | None = None) -> ArenaClient:
    """A client with the token of the flag or ARENA_TOKEN, else the one `arena login` saved
    for this address."""
    return ArenaClient(url, token or credentials.token_for(url))


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def password_prompt(password: str | None, confirm: bool) -> str:
    if password:
        return password
    env = os.environ.get("ARENA_PASSWORD")
    if env:
        return env
    return typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)


def progress_bar() -> Progress:
    """A bar on stderr for work the platform reports as done out of total (runs, references)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
