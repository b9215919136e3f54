"""What the sandbox's Python environment provides: shown on competitions, recorded with scores."""

from __future__ import annotations

import platform
from importlib import metadata


def environment_packages() -> dict[str, str]:
    """Installed distributions (name → version) of this Python environment, sorted by name."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name != "unlearning-arena":
            found[name.lower()] = dist.version
    return dict(sorted(found.items()))


def environment_summary() -> dict[str, object]:
    return {"python": platform.python_version(), "packages": environment_packages()}
