"""Forgetting quality F: the mean of bucketed per-example ε (docs/scoring.md §5)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

BUCKET_WIDTH = 0.5


def max_epsilon(n_models: int) -> int:
    """``⌈ln(N − 1)⌉``: ε at or above it earns nothing (7 for N = 512).

    Examples
    --------
    >>> [max_epsilon(n) for n in (8, 32, 128, 512)]
    [2, 4, 5, 7]
    """
    if int(n_models) < 2:
        raise ValueError(f"parameter 'n_models' must be >= 2, got {n_models!r}")
    return math.ceil(math.log(int(n_models) - 1))


def epsilon_points(epsilons: ArrayLike, n_models: int) -> NDArray[np.float64]:
    """H(ε) per example: ``2^-⌊ε/0.5⌋`` below ``max_epsilon(N)``, else 0; NaN stays NaN.

    Examples
    --------
    >>> epsilon_points([0.0, 0.49, 0.5, 1.2, 4.0, 50.0], 32).tolist()
    [1.0, 1.0, 0.5, 0.25, 0.0, 0.0]
    """
    eps = np.asarray(epsilons, dtype=np.float64)
    limit = max_epsilon(n_models)
    with np.errstate(invalid="ignore"):
        bucket = np.floor(eps / BUCKET_WIDTH)
        points = np.where(eps < limit, np.exp2(-bucket), 0.0)
    return np.where(np.isnan(eps), np.nan, points)


def forgetting_quality(epsilons: ArrayLike, n_models: int) -> float:
    """Forgetting quality F: mean of H(ε) over the scorable (non-NaN) examples, in [0, 1].

    Parameters
    ----------
    epsilons : array_like of shape (n_examples,)
        Per-example ε from :func:`scoring.per_example_epsilons`.
    n_models : int
        N, the number of unlearned models (sets the bucket limit ``⌈ln(N − 1)⌉``).

    Returns
    -------
    float
        NaN when no example is scorable.

    Examples
    --------
    >>> forgetting_quality([0.1, 0.7, float("nan"), 50.0], 32)
    0.5
    """
    points = epsilon_points(epsilons, n_models)
    scorable = points[~np.isnan(points)]
    if scorable.size == 0:
        return float("nan")
    return float(scorable.mean())
