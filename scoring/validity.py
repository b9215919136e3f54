"""How far a leaderboard can be trusted: what a perfect method scores, the N a difference needs,
and how well two rankings agree (docs/metric.md, "Reading the validity report").

- :func:`null_forgetting_quality`: F of retraining against itself over many disjoint random
  splits of the reference pool, all splits in one call of the ε kernels;
- :func:`null_summary`: its mean, spread and 95% range;
- :func:`models_for_difference`: from the null spread measured at several N, the N at which two
  entries whose F differ by a given amount are told apart with a given power;
- :func:`kendall_tau_interval`, :func:`rank_swings`, :func:`rank_correlation`: agreement of
  two rankings of the same entries (public and private boards, two stages, two rule families, a
  secondary metric and the primary one).

Examples
--------
>>> rng = np.random.default_rng(0)
>>> phi = rng.normal(size=(50, 16))  # 50 forget examples, a pool of 16 references
>>> f = null_forgetting_quality(phi, 8, splits=10, seed=1)
>>> f.shape, bool(np.all((f >= 0) & (f <= 1)))
((10,), True)
>>> tau, low, high = kendall_tau_interval([1, 2, 3, 4, 5], [1, 2, 3, 5, 4], resamples=200)
>>> round(tau, 2), low <= tau <= high
(0.8, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from scoring.epsilon import Rules, per_example_epsilons
from scoring.quality import forgetting_quality

#: Signal values per side handed to the ε kernels at once by :func:`null_forgetting_quality`.
NULL_BLOCK_VALUES = 1 << 22


def null_forgetting_quality(
    phi: ArrayLike,
    n_per_side: int,
    *,
    splits: int = 50,
    seed: int = 0,
    rules: Rules = "official",
    delta: float = 1e-5,
    cap: float = 50.0,
) -> NDArray[np.float64]:
    """F of "retraining against itself" over ``splits`` random splits of the reference pool.

    Each split draws ``2 × n_per_side`` distinct references and scores the first half as if it
    were the unlearned models against the second half (SCORING.md §6, taken over many splits
    instead of one). Every split's ε comes from one call of the compiled kernels.

    Parameters
    ----------
    phi : array_like of shape (n_examples, pool)
        Signal φ of each forget example under each reference model.
    n_per_side : int
        Models on each side (at most ``pool // 2``).
    splits, seed : int
        How many random splits, and the seed that draws them.
    rules, delta, cap :
        As for :func:`scoring.per_example_epsilons`.

    Returns
    -------
    numpy.ndarray of shape (splits,): F of each split (NaN where no example could be scored).
    """
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim != 2:
        raise ValueError(f"phi must have shape (n_examples, pool), got {phi.shape}")
    pool = phi.shape[1]
    if not 2 <= n_per_side <= pool // 2:
        raise ValueError(
            f"n_per_side must be between 2 and pool // 2 = {pool // 2}, got {n_per_side}"
        )
    if splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    rng = np.random.default_rng(seed)
    draws = np.stack([rng.permutation(pool)[: 2 * n_per_side] for _ in range(splits)])
    n_examples = phi.shape[0]
    # as many splits per kernel call as fit in about 32 MiB per side
    per_call = max(1, NULL_BLOCK_VALUES // max(1, n_examples * n_per_side))
    quality = np.empty(splits)
    for start in range(0, splits, per_call):
        block = draws[start : start + per_call]
        first = phi[:, block[:, :n_per_side]].transpose(1, 0, 2)  # (splits, n_examples, n)
        second = phi[:, block[:, n_per_side:]].transpose(1, 0, 2)
        eps = per_example_epsilons(
            first.reshape(-1, n_per_side),
            second.reshape(-1, n_per_side),
            rules=rules,
            delta=delta,
            cap=cap,
        ).reshape(len(block), n_examples)
        quality[start : start + len(block)] = [forgetting_quality(row, n_per_side) for row in eps]
    return quality


@dataclass(frozen=True)
class NullSummary:
    """Mean, standard deviation and the 2.5% and 97.5% quantiles of null F values."""

    mean: float
    sd: float
    low: float
    high: float
    splits: int


def null_summary(values: ArrayLike) -> NullSummary:
    """Summary of :func:`null_forgetting_quality`'s values (NaN values left out).

    >>> s = null_summary([0.1, 0.2, 0.3])
    >>> round(s.mean, 3), s.splits
    (0.2, 3)
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return NullSummary(math.nan, math.nan, math.nan, math.nan, 0)
    low, high = np.quantile(v, [0.025, 0.975])
    sd = float(np.std(v, ddof=1)) if v.size > 1 else 0.0
    return NullSummary(float(v.mean()), sd, float(low), float(high), int(v.size))


@dataclass(frozen=True)
class PowerPlan:
    """The N (models per side) needed to tell apart two entries whose F differ by ``difference``.

    ``n_models`` is None when the measured spread does not shrink with N (no fit), ``fitted``
    says whether it comes from the fit ``sd(N) = scale · N^exponent`` or was measured.
    """

    difference: float
    n_models: int | None
    exponent: float | None
    scale: float | None
    power: float
    alpha: float


def models_for_difference(
    sd_by_n: Mapping[int, float],
    difference: float,
    *,
    power: float = 0.8,
    alpha: float = 0.05,
    max_models: int = 1 << 16,
) -> PowerPlan:
    """Smallest N at which a two-sided test at level ``alpha`` has ``power`` to detect a true
    difference of ``difference`` in F between two entries.

    Each entry's F is taken to vary across Monte-Carlo draws of models as a perfect method's
    does (the null spread ``sd(N)``, measured at a few N). The difference of two independent
    entries has spread ``√2 · sd(N)``; the test detects it with the wanted power when
    ``difference ≥ (z₁₋α/₂ + z_power) · √2 · sd(N)``. The smallest measured N that meets it is
    taken; past the largest measured N, the fit ``sd(N) = scale · N^exponent`` (log-log least
    squares) extrapolates, and only while the spread shrinks with N (``exponent < 0``):
    otherwise no N will do (``n_models`` None), and only a larger forget set would help.

    >>> plan = models_for_difference({8: 0.04, 16: 0.028, 32: 0.02}, 0.05)
    >>> plan.n_models, round(plan.exponent, 2)
    (80, -0.5)
    >>> models_for_difference({8: 0.04, 16: 0.028, 32: 0.02}, 0.2).n_models  # already at N = 8
    8
    """
    if difference <= 0:
        raise ValueError(f"difference must be > 0, got {difference}")
    points = [(n, sd) for n, sd in sorted(sd_by_n.items()) if sd > 0 and math.isfinite(sd)]
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    needed_sd = difference / (z * math.sqrt(2))
    if len(points) < 2:
        return PowerPlan(difference, None, None, None, power, alpha)
    logs = np.log(np.array(points, dtype=np.float64))
    slope_intercept = np.polyfit(logs[:, 0], logs[:, 1], 1)
    exponent, intercept = float(slope_intercept[0]), float(slope_intercept[1])
    scale = math.exp(intercept)
    measured = [n for n, sd in points if sd <= needed_sd]
    if measured:
        return PowerPlan(difference, measured[0], exponent, scale, power, alpha)
    if exponent >= 0:
        return PowerPlan(difference, None, exponent, scale, power, alpha)
    log_n = (math.log(needed_sd) - intercept) / exponent
    if log_n > math.log(max_models):
        return PowerPlan(difference, None, exponent, scale, power, alpha)
    n_models = max(points[-1][0] + 1, math.ceil(math.exp(log_n) - 1e-9))
    return PowerPlan(difference, n_models, exponent, scale, power, alpha)


def kendall_tau_interval(
    a: ArrayLike, b: ArrayLike, *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Kendall's τ-b of two scorings of the same entries, with a bootstrap interval over entries.

    Returns ``(tau, low, high)``; NaN values when fewer than 3 entries are scored in both.
    """
    x, y = _paired(a, b)
    if x.size < 3:
        return math.nan, math.nan, math.nan
    tau = float(stats.kendalltau(x, y).statistic)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        idx = rng.integers(0, x.size, x.size)
        value = stats.kendalltau(x[idx], y[idx]).statistic
        if math.isfinite(value):
            draws.append(value)
    if not draws:
        return tau, math.nan, math.nan
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return tau, float(low), float(high)


def rank_correlation(a: ArrayLike, b: ArrayLike) -> tuple[float, int]:
    """Spearman's ρ over the entries scored in both (NaN if fewer than 3), and their number."""
    x, y = _paired(a, b)
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, int(x.size)
    return float(stats.spearmanr(x, y).statistic), int(x.size)


def ranks(scores: ArrayLike) -> NDArray[np.int64]:
    """Board ranks, higher score first, ties sharing the best rank (1, 2, 2, 4).

    >>> ranks([0.3, 0.5, 0.5, 0.1]).tolist()
    [3, 1, 1, 4]
    """
    s = np.asarray(scores, dtype=np.float64)
    out: NDArray[np.int64] = stats.rankdata(-s, method="min").astype(np.int64)
    return out


def rank_swings(a: ArrayLike, b: ArrayLike, top: int = 5) -> list[tuple[int, int, int]]:
    """The entries whose rank changes most from scoring ``a`` to scoring ``b``.

    Returns up to ``top`` triples ``(index, rank under a, rank under b)``, largest change
    first (entries scored in both only; ranks among those).

    >>> rank_swings([0.9, 0.8, 0.7, 0.6], [0.6, 0.8, 0.7, 0.9], top=2)
    [(0, 1, 4), (3, 4, 1)]
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    both = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if both.size == 0:
        return []
    ra, rb = ranks(x[both]), ranks(y[both])
    order = np.argsort(-np.abs(ra - rb), kind="stable")[:top]
    return [(int(both[i]), int(ra[i]), int(rb[i])) for i in order if ra[i] != rb[i]]


def _paired(a: ArrayLike, b: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"two scorings of the same entries needed, got {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]
