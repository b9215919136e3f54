"""Uncertainty of a score from the sampling of forget examples (docs/scoring.md §6).

The intervals resample forget examples with replacement and hold the accuracy ratios fixed,
so they measure how much the score depends on which examples were forgotten, not on the
randomness of the models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

_CHUNK = 200  # resamples per chunk, to bound memory for large forget sets
_MAX_CELLS = 50_000_000  # rows × examples × resamples held at once (400 MB of float64)


def _resampled_scores(
    points: np.ndarray, factors: np.ndarray, n_resamples: int, seed: int
) -> np.ndarray:
    """Scores of each row of ``points`` (groups × examples) on shared resampled example sets."""
    n_groups, n_examples = points.shape
    rng = np.random.default_rng(seed)
    out = np.empty((n_groups, n_resamples))
    valid = ~np.isnan(points)
    filled = np.where(valid, points, 0.0)
    # fewer resamples per chunk only where a chunk of 200 would hold too much (many rows)
    chunk = max(1, min(_CHUNK, _MAX_CELLS // max(1, n_groups * n_examples)))
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        idx = rng.integers(0, n_examples, size=(size, n_examples))
        sums = filled[:, idx].sum(axis=2)
        counts = valid[:, idx].sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, start : start + size] = sums / counts
    scaled: NDArray[Any] = out * factors[:, None]
    return scaled


def _check(points: ArrayLike, n_resamples: int, level: float) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(
            f"points must be a non-empty 1-D array of per-example H(ε), got shape {p.shape}"
        )
    if n_resamples < 1:
        raise ValueError(f"parameter 'n_resamples' must be >= 1, got {n_resamples!r}")
    if not 0 < level < 1:
        raise ValueError(f"parameter 'level' must be in (0, 1), got {level!r}")
    return p


def _rows(points: ArrayLike, factors: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Rows of H(ε) per example and their utility factors, as float arrays of matching shape."""
    p = np.asarray(points, dtype=np.float64)
    f = np.asarray(factors, dtype=np.float64)
    if p.ndim != 2 or f.shape != (p.shape[0],):
        raise ValueError(
            f"points must be (n_rows, n_examples) and factors (n_rows,), got {p.shape} and {f.shape}"
        )
    return p, f


def bootstrap_score_interval(
    points: ArrayLike,
    utility_factor: float,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``score = mean(H) × utility_factor``.

    Parameters
    ----------
    points : array_like of shape (n_examples,)
        H(ε) per forget example (:func:`scoring.epsilon_points`); NaN marks unscorable ones.
    utility_factor : float
        ``(RA_U / RA_R) × (TA_U / TA_R)``, held fixed.
    n_resamples : int, default 1000
    seed : int, default 0
    level : float, default 0.95

    Returns
    -------
    (low, high) : tuple of float

    Examples
    --------
    >>> low, high = bootstrap_score_interval([1.0, 0.5, 0.0, 0.25] * 10, 1.0)
    >>> low < 0.4375 < high
    True
    """
    p = _check(points, n_resamples, level)
    scores = _resampled_scores(p[None, :], np.array([float(utility_factor)]), n_resamples, seed)[0]
    alpha = (1 - level) / 2
    low, high = np.nanquantile(scores, [alpha, 1 - alpha])
    return float(low), float(high)


def paired_difference_interval(
    points_a: ArrayLike,
    factor_a: float,
    points_b: ArrayLike,
    factor_b: float,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Paired bootstrap interval of ``score_a − score_b`` (same resampled examples for both).

    Two leaderboard neighbours are statistically tied when this interval contains 0.

    Examples
    --------
    >>> low, high = paired_difference_interval([1.0, 0.0] * 20, 1.0, [1.0, 0.0] * 20, 1.0)
    >>> low <= 0 <= high
    True
    """
    a = _check(points_a, n_resamples, level)
    b = _check(points_b, n_resamples, level)
    if a.shape != b.shape:
        raise ValueError(
            f"points_a and points_b must cover the same examples, got {a.shape} and {b.shape}"
        )
    scores = _resampled_scores(
        np.stack([a, b]), np.array([factor_a, factor_b], float), n_resamples, seed
    )
    diff = scores[0] - scores[1]
    alpha = (1 - level) / 2
    low, high = np.nanquantile(diff, [alpha, 1 - alpha])
    return float(low), float(high)


def statistically_tied(
    points_a: ArrayLike,
    factor_a: float,
    points_b: ArrayLike,
    factor_b: float,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> bool:
    """Whether the 95% paired bootstrap interval of the score difference contains 0."""
    low, high = paired_difference_interval(
        points_a, factor_a, points_b, factor_b, n_resamples=n_resamples, seed=seed
    )
    return bool(low <= 0.0 <= high)


def neighbour_ties(
    points: ArrayLike,
    factors: ArrayLike,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> list[bool]:
    """For rows ranked best first, whether each is statistically tied with the next one.

    Equal to calling :func:`statistically_tied` on every neighbouring pair with the same
    ``seed`` (the resampled example sets are shared), but one vectorised pass for a page of
    a leaderboard.

    Parameters
    ----------
    points : array_like of shape (n_rows, n_examples)
        H(ε) per forget example of each row; NaN marks unscorable ones.
    factors : array_like of shape (n_rows,)
        Each row's utility factor.

    Returns
    -------
    list of bool, length n_rows - 1 (empty for fewer than two rows).

    Examples
    --------
    >>> neighbour_ties([[1.0, 0.0] * 20, [1.0, 0.0] * 20, [0.0, 0.0] * 20], [1.0, 1.0, 1.0])
    [True, False]
    """
    p, f = _rows(points, factors)
    if p.shape[0] < 2:
        return []
    _check(p[0], n_resamples, level)
    scores = _resampled_scores(p, f, n_resamples, seed)
    diff = scores[:-1] - scores[1:]
    alpha = (1 - level) / 2
    low, high = np.nanquantile(diff, [alpha, 1 - alpha], axis=1)
    return [bool(lo <= 0.0 <= hi) for lo, hi in zip(low, high, strict=True)]


def _rank_bounds(scores: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per resample, the best and worst rank of each wanted row among all rows (tied scores
    span the ranks they share): two (wanted, resamples) arrays."""
    n_rows, n_resamples = scores.shape
    best = np.empty((wanted.size, n_resamples), dtype=np.int64)
    worst = np.empty((wanted.size, n_resamples), dtype=np.int64)
    step = max(1, int(2e7 // max(1, n_rows * wanted.size)))  # bounds the (wanted, rows, step) block
    for start in range(0, n_resamples, step):
        block = scores[:, start : start + step]
        mine = block[wanted]
        greater = (block[None, :, :] > mine[:, None, :]).sum(axis=1)
        equal = (block[None, :, :] == mine[:, None, :]).sum(axis=1)
        best[:, start : start + step] = 1 + greater
        worst[:, start : start + step] = greater + equal
    return best, worst


def rank_intervals(
    points: ArrayLike,
    factors: ArrayLike,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    above: int = 0,
    rows: Sequence[int] | None = None,
) -> list[tuple[int, int]]:
    """The ``level`` rank interval of each row, from one bootstrap over forget examples.

    Every resample draws one set of examples for all rows (as :func:`neighbour_ties`), so the
    ranks of one resample are jointly consistent. Rank 1 is the highest score; rows with equal
    scores in a resample share the ranks they span, so identical rows get the whole tied range
    and a row that is always strictly ahead of the others gets width 0. The interval is the
    ``(1 - level) / 2`` quantile of each row's best rank and the ``(1 + level) / 2`` quantile of
    its worst. A resample whose score is undefined (NaN: no scorable example drawn) counts as
    the lowest score.

    Parameters
    ----------
    points : array_like of shape (n_rows, n_examples)
        H(ε) per forget example of each row; NaN marks unscorable ones.
    factors : array_like of shape (n_rows,)
        Each row's utility factor, held fixed.
    above : int, default 0
        Rows not given that rank above all of these in every resample (added to each rank).
    rows : sequence of int, optional
        Compute the intervals of these rows only (ranked among all rows): a page of a board.

    Returns
    -------
    list of (low, high), one per row (or per entry of ``rows``), 1-based.

    Examples
    --------
    >>> rank_intervals([[1.0] * 40, [0.5] * 40, [0.0] * 40], [1.0, 1.0, 1.0])
    [(1, 1), (2, 2), (3, 3)]
    >>> rank_intervals([[1.0, 0.0] * 20] * 3, [1.0, 1.0, 1.0])
    [(1, 3), (1, 3), (1, 3)]
    """
    p, f = _rows(points, factors)
    n_rows = p.shape[0]
    if n_rows == 0:
        return []
    _check(p[0], n_resamples, level)
    scores = np.nan_to_num(_resampled_scores(p, f, n_resamples, seed), nan=-np.inf)
    wanted = np.arange(n_rows) if rows is None else np.asarray(rows, dtype=np.int64)
    best, worst = _rank_bounds(scores, wanted)
    alpha = (1 - level) / 2
    low = np.floor(np.quantile(best, alpha, axis=1, method="lower")).astype(int) + above
    high = np.ceil(np.quantile(worst, 1 - alpha, axis=1, method="higher")).astype(int) + above
    return [(int(lo), int(hi)) for lo, hi in zip(low, high, strict=True)]
