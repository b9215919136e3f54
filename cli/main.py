"""The `arena` command: run the platform, and use it as a participant.

Server and token come from --url/--token or ARENA_URL/ARENA_TOKEN.
"""

from __future__ import annotations

import sys

from cli import operator, participant  # noqa: F401 - they register their commands on app
from cli.common import app

__all__ = ["app"]


def main() -> None:  # pragma: no cover
    sys.exit(app())
