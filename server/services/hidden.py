"""What a reader is shown of a result computed on hidden examples (docs/security.md, "Figures
computed on hidden examples"): the figures beside a score from the part of the forget set being
shown, at their published precision, and example ids that cannot tell the public part from the
private one before the close.

Before the close a participant (and an anonymous visitor) reads the public part's figures only:
its accuracy ratios, accuracies and secondary metrics, computed on its own forget examples by
``worker/pipeline/finalize.py``. Organizers, and everyone once a board is final, also read the
private part's; the private board's rows carry them (under staged N, the private stage's).
"""

from __future__ import annotations

import hmac
from functools import lru_cache
from hashlib import sha256
from typing import Any

import numpy as np

from core.models import Submission
from core.results import SubmissionResult
from core.splits import public_mask
from server.precision import published_figures


def part_figures(
    result: SubmissionResult, part: str, retain_ratio: float | None, test_ratio: float | None
) -> dict[str, Any]:
    """The figures shown beside ``part``'s score (``server.precision.published_figures``).
    Ratios missing from a part (results stored before per-part figures) are the given ones
    (a submission's columns) or, for the private part under staged N, the private stage's."""
    stage = result.private_stage if part == "private" else None
    return published_figures(
        result.part(part),
        stage.retain_ratio if stage else retain_ratio,
        stage.test_ratio if stage else test_ratio,
    )


def shown_result(
    sub: Submission, result: SubmissionResult, show_private: bool, scored: bool
) -> dict[str, Any]:
    """A submission's answer's figures and example ids: the public part's figures; with
    ``show_private`` the private part's beside them (once it has any: under staged N, after the
    private stage), under ``accuracy["private"]`` (with its two ratios) and
    ``secondary["private"]``. The most distinguishable examples are forget-set ids with
    ``show_private``, positions in the public part before (:func:`public_positions`)."""
    if not scored:
        return {"most_distinguishable": None}
    figures = part_figures(result, "public", sub.retain_ratio, sub.test_ratio)
    ids = result.parts.public.most_distinguishable
    private_part = result.parts.private
    if not show_private:
        ids = public_positions(sub, ids, len(result.epsilons))
    elif private_part.accuracy is not None or private_part.secondary is not None:
        private = part_figures(result, "private", sub.retain_ratio, sub.test_ratio)
        figures["accuracy"] = {
            **(figures["accuracy"] or {}),
            "private": {
                **(private["accuracy"] or {}),
                "retain_ratio": private["retain_ratio"],
                "test_ratio": private["test_ratio"],
            },
        }
        if private["secondary"] is not None:
            figures["secondary"] = {**(figures["secondary"] or {}), "private": private["secondary"]}
    return {**figures, "most_distinguishable": ids or None}


def public_positions(sub: Submission, ids: list[int], n_forget: int) -> list[int]:
    """Forget-set ids of public examples as a participant reads them before the close: each by
    its position (1 to the public part's size) in an order of the public part drawn from the
    competition's secret. A forget-set id would tell a crafted model which of the examples it
    was handed are public; a position in a secret order names an example of the public part
    and nothing more. Ids outside the public part are left out."""
    if not ids or n_forget < 2:
        return []
    comp = sub.competition
    cfg = comp.working_config
    key = comp.split_secret or f"seed:{cfg.seed}"  # no secret: its split is known anyway
    positions = _positions(key, cfg.seed, n_forget, cfg.leaderboard.public_fraction)
    return [positions[i] for i in ids if i in positions]


@lru_cache(maxsize=64)
def _positions(key: str, seed: int, n_forget: int, fraction: float) -> dict[int, int]:
    """Each public example's position in the order of HMAC-SHA256(key, its id)."""
    public = np.flatnonzero(public_mask(n_forget, fraction, seed))
    order = sorted(
        (int(i) for i in public),
        key=lambda i: hmac.new(key.encode(), f"public-position:{i}".encode(), sha256).digest(),
    )
    return {i: p + 1 for p, i in enumerate(order)}
