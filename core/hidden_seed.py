"""The hidden split's randomness: from a server-side secret, never from anything published.

A competition's ``seed`` is in its bundle, its starter kit and its settings page: with data that
can be regenerated (the demo's, a ``make_dataset.py``), everything drawn from it would follow,
the split into retain and forget, the public and private parts of the forget set and the
original model's training. So every computation on hidden data uses the **working seed**
(:func:`working_config`): the published seed mixed with the competition's ``split_secret``, a
random 256-bit value made on the server when the competition row is created, stored in its own
column, and never serialised (no schema, export, kit, bundle or page reads it). The published
seed stays what it was, and is now only the kit's development seed.

Competitions created before the secret existed have none: their working seed is their published
seed, and their splits must be taken as known. An organizer re-splits such a competition with
``POST /competitions/{slug}/resplit`` (``arena competition resplit SLUG``): a new secret, then a
new preparation and rescoring (docs/security.md).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from core.competition_config import CompetitionConfig


def new_secret() -> str:
    return secrets.token_hex(32)


def working_seed(seed: int, secret: str | None) -> int:
    """The seed hidden computations use (the published one where there is no secret)."""
    if not secret:
        return seed
    digest = hashlib.sha256(f"arena-split:{secret}:{seed}".encode()).digest()
    # 63 bits: a run that recognises its examples in a public dataset could test 2^31 seeds
    # against them in a day; 2^63 is out of reach (torch's seeds take up to 64 bits)
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def working_config(stored: dict[str, Any], secret: str | None) -> CompetitionConfig:
    """A competition's settings as the hidden computations use them (its working seed)."""
    cfg = CompetitionConfig.model_validate(stored)
    return cfg.model_copy(update={"seed": working_seed(cfg.seed, secret)})
