"""The `arena` command: participant commands (``cli/participant.py``), organizer commands
(``cli/organizer.py``: ``arena competition``, ``arena team``) and operator commands
(``cli/operator.py``: serve, worker, database, accounts, upkeep).

Server and token come from --url/--token or ARENA_URL/ARENA_TOKEN.
"""

from __future__ import annotations

import sys

from cli import (  # noqa: F401 - they register their commands
    account,
    bundles,
    local_cmd,
    operator,
    participant,
    validity,
)
from cli.common import app
from cli.organizer import competition_app, team_app

app.add_typer(competition_app, name="competition")
app.add_typer(team_app, name="team")

__all__ = ["app"]


def main() -> None:  # pragma: no cover
    sys.exit(app())
