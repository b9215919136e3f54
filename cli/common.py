"""What every `arena` command shares: the command tree, the options, output and failure."""

from __future__ import annotations

import os
import re
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

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

# control characters (C0 but newline and tab, DEL, C1) and the bidirectional overrides: a
# terminal or a reader would act on them; they are shown as escapes instead
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain(value: Any, style: Any = "") -> Text:
    """A string as the text it is: no Rich markup, no emoji codes, control characters shown
    as escapes. Every string the CLI prints goes through here (``TextConsole``)."""
    text = _CONTROL.sub(lambda m: ascii(m.group())[1:-1], str(value))
    return Text(text, style=style)


def styled(*parts: str | tuple[str, str]) -> Text:
    """The CLI's own styling around stored text: ``("error:", "red")`` styles its words;
    a plain string part is shown as it is."""
    return Text.assemble(*(plain(*p) if isinstance(p, tuple) else plain(p) for p in parts))


class TextConsole(Console):
    """A console that never reads a string as markup: strings printed, table cells and
    titles all become :func:`plain` text (Rich turns every string into Text here). Style
    comes from ``style=`` or :func:`styled`."""

    def render_str(self, text: str, *, style: Any = "", justify=None, overflow=None, **_: Any):
        rendered = plain(text, style)
        rendered.justify, rendered.overflow = justify, overflow
        return rendered


console = TextConsole()
err = TextConsole(stderr=True)

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
    err.print(styled(("error:", "red"), f" {message}"))
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
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
