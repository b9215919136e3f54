"""Rank intervals of a board's rows (``rank_interval``: "3rd, 95% between 2nd and 6th").

From the same seeded bootstrap over forget examples as the score intervals and the ties
(:func:`scoring.rank_intervals`: one resample drives all rows, so the ranks are jointly
consistent). Only a page's rows are shown, so only the rows that can change places with them
are resampled: those whose stored 95% score interval overlaps the page's. A row whose interval
lies wholly above the page's counts as ranked above in every resample, one wholly below as
below: what no resample at that level would change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import scoring

Pick = tuple[Any, float | None, list[float | None]]  # (submission row, score, interval)
# comparisons one board build may make (page rows × contenders × resamples): past it, fewer
# resamples (never under MIN_RESAMPLES), so that a page of 500 on a board of thousands stays cheap
MAX_COMPARISONS = 200_000_000
MIN_RESAMPLES = 200


def _span(pick: Pick) -> tuple[float, float]:
    _, score, ci = pick
    s = -1.0 if score is None else float(score)
    low = ci[0] if ci and ci[0] is not None else s
    high = ci[1] if ci and len(ci) > 1 and ci[1] is not None else s
    return float(low), float(high)


def contenders(picks: Sequence[Pick], window: Sequence[int]) -> tuple[list[int], int]:
    """The picks whose interval overlaps the window's (the window's own included), and how
    many lie wholly above it."""
    spans = [_span(p) for p in picks]
    low = min(spans[i][0] for i in window)
    high = max(spans[i][1] for i in window)
    above = sum(1 for lo, _ in spans if lo > high)
    inside = [i for i, (lo, hi) in enumerate(spans) if lo <= high and hi >= low]
    return inside, above


def rank_intervals(
    picks: Sequence[Pick],
    window: Sequence[int],
    points_of: Callable[[list[int]], list[tuple[np.ndarray | None, float]]],
    resamples: int,
) -> dict[int, tuple[int, int]]:
    """Each window row's rank interval (pick index → (low, high)); ``points_of`` gives the
    (H(ε) per example, utility factor) of picks. Rows without per-example ε get none."""
    if not window:
        return {}
    inside, above = contenders(picks, window)
    found = points_of(inside)
    usable = [
        (i, p, f) for i, (p, f) in zip(inside, found, strict=True) if p is not None and p.size
    ]
    if not usable:
        return {}
    shape = max(
        {p.shape for _, p, _ in usable}, key=lambda s: sum(1 for _, p, _ in usable if p.shape == s)
    )
    rows = [(i, p, f) for i, p, f in usable if p.shape == shape]  # one forget set
    wanted = set(window)
    mine = [k for k, (i, _, _) in enumerate(rows) if i in wanted]
    affordable = MAX_COMPARISONS // max(1, len(mine) * len(rows))
    resamples = max(min(resamples, MIN_RESAMPLES), min(resamples, affordable))
    intervals = scoring.rank_intervals(
        np.stack([p for _, p, _ in rows]),
        [f for _, _, f in rows],
        n_resamples=resamples,
        above=above,
        rows=mine,
    )
    return {rows[k][0]: iv for k, iv in zip(mine, intervals, strict=True)}
