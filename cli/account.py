"""Account commands: register, log in (the token is printed and saved for the CLI), log out,
list and revoke tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli import credentials
from cli.client import ArenaClient, ClientError
from cli.common import (
    DEFAULT_URL,
    TokenOpt,
    UrlOpt,
    _client,
    _fail,
    app,
    console,
    err,
    password_prompt,
)

PasswordOpt = Annotated[str | None, typer.Option(help="Default: ARENA_PASSWORD or a prompt.")]


@app.command()
def register(username: str, url: UrlOpt = DEFAULT_URL, password: PasswordOpt = None) -> None:
    """Create an account."""
    try:
        ArenaClient(url).register(username, password_prompt(password, True))
    except ClientError as exc:
        _fail(str(exc))
    err.print(f"account {username!r} created; get a token with: arena login {username}")


@app.command()
def login(
    username: str,
    url: UrlOpt = DEFAULT_URL,
    password: PasswordOpt = None,
    save: Annotated[
        bool, typer.Option("--save/--no-save", help="Keep it for the next commands.")
    ] = True,
) -> None:
    """Print a new API token and keep it for the next commands (owner-only file); --token and
    ARENA_TOKEN still win, so `export ARENA_TOKEN=$(arena login NAME)` works too."""
    client = ArenaClient(url)
    try:
        body = client.call(
            "POST",
            "/tokens",
            json={"username": username, "password": password_prompt(password, False)},
        )
    except ClientError as exc:
        _fail(str(exc))
    print(body["token"])
    expires = body.get("expires_at")
    if save:
        where = credentials.save(url, username, body["token"], expires)
        err.print(f"saved for {url} in {where} (owner-only); expires {expires or 'never'}")


@app.command()
def logout(url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Revoke the token in use (flag, ARENA_TOKEN or the saved one) and forget the saved one."""
    used = token or credentials.token_for(url)
    if not used:
        _fail(f"not logged in to {url}: nothing to log out")
    try:
        ArenaClient(url, used).log_out()
    except ClientError as exc:
        if exc.status != 401:  # an expired or revoked token is logged out already
            _fail(str(exc))
    if credentials.token_for(url) == used:
        credentials.forget()
    err.print("logged out: the token no longer works")


@app.command()
def tokens(
    revoke: Annotated[int | None, typer.Option(help="Revoke the token with this id.")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """List your API tokens (never their secrets), or revoke one."""
    client = _client(url, token)
    try:
        if revoke is not None:
            client.revoke_token(revoke)
            err.print(f"token {revoke} revoked")
        rows = client.tokens()
    except ClientError as exc:
        _fail(str(exc))
    table = Table(title="Your API tokens")
    for col in ("id", "created", "last used", "expires", "revoked"):
        table.add_column(col)
    for t in rows:
        table.add_row(
            str(t["id"]),
            _day(t["created_at"]),
            _day(t.get("last_used_at")),
            _day(t.get("expires_at")),
            _day(t.get("revoked_at")),
        )
    console.print(table)


def _day(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else ""
