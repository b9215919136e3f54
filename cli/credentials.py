"""The CLI's saved login: one file in the user's config directory (``typer.get_app_dir``,
e.g. ``~/.config/arena/credentials.json``), readable by its owner only. The ``--token`` flag
and ``ARENA_TOKEN`` win over it; it is only sent to the platform it was made for."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

FILE = "credentials.json"


def path() -> Path:
    return Path(typer.get_app_dir("arena")) / FILE


def save(url: str, username: str, token: str, expires_at: str | None) -> Path:
    """Write the login, owner-only (0600 in a 0700 folder), replacing any earlier one."""
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(target.parent, 0o700)
    body = {"url": _same(url), "username": username, "token": token, "expires_at": expires_at}
    tmp = target.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(body, fh)
    os.replace(tmp, target)
    return target


def saved() -> dict[str, str] | None:
    try:
        data = json.loads(path().read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("token") else None


def token_for(url: str) -> str | None:
    """The saved token, if it was made for this platform address."""
    data = saved()
    return data["token"] if data and data.get("url") == _same(url) else None


def forget() -> bool:
    try:
        path().unlink()
        return True
    except FileNotFoundError:
        return False


def _same(url: str) -> str:
    return url.rstrip("/")
