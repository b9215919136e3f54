"""Run-level uncertainty of forgetting quality F (docs/scoring.md, "Run-level uncertainty").

Every forget example's ε comes from the same N runs of a method (and the same N references), so
the errors of the per-example ε are correlated across examples: a run that happens to forget a
little less than usual moves all of them. Resampling forget examples with the runs held fixed
(:mod:`scoring.bootstrap`) misses that shared part and calls two submissions of one method
different far more often than its nominal 5%. This module resamples the unit that varies from one
submission to the next, the run.

**What the interval means.** :func:`quality_interval` covers, with probability ``level``, the F
that the same method would get from a *fresh* set of N runs scored against *these* references on
*these* forget examples (a prediction interval for a rerun). :func:`entries_tied` asks whether two
entries scored against the same references could be two such reruns of one method.

**The method: drop-and-double resampling of runs.** Each resample keeps the references and the
examples, drops ``d = max(1, round(N / 8))`` randomly chosen runs, counts ``d`` other runs twice
and every other run once, and recomputes F on those N columns with the metric's own functions
(:func:`scoring.per_example_epsilons`, :func:`scoring.forgetting_quality`). Every resample is
therefore scored by the same estimator as the submission: N columns on each side, the same rule
table, the same bucket limit ``⌈ln(N − 1)⌉``. The run weights (0, 1 or 2, mean 1) are
exchangeable with variance ``v = 2d / N``; for a statistic that is a mean over runs the variance
of the resampled values is exactly ``v`` times the usual estimate of its sampling variance
(``s² / N``), so

    σ² = var(F over resamples) / v

estimates the variance of F over fresh sets of runs (the exchangeably weighted bootstrap of
Præstgaard & Wellner, 1993; the delete-d jackknife is the member with weights 0 and N/(N − d)).
F is far from a smooth statistic (a mean of bucketed maxima over decision rules), and the weight
variance matters: on synthetic signals with a shared run effect the plain bootstrap (``v ≈ 1``)
and half-sampling (``v = 1``) under-estimated σ by up to a quarter and a third, while
``v = 1/4`` (``d = N/8``) came out between 5% under and 65% over it (most over for methods whose
runs barely vary). The calibration figures and the command that measures them are in
docs/scoring.md.

The interval is ``F ± z·√2·σ`` clipped to [0, 1] (``z`` the normal quantile of ``level``): a
rerun's F and the observed one are two independent draws, so their difference has variance 2σ².
Two entries are tied when ``|F_a − F_b| ≤ z·√(σ_a² + σ_b²)``, with the runs of a and b resampled
independently and the references shared.

**Fresh forget sets too** (``over_examples=True``): the interval then also covers the sampling of
the forget set (of whole groups when ``groups`` is given, for whole-group forgetting): the
bootstrap variance of F over examples (groups), with the runs fixed, is added to σ². That sum
counts the example-level part of the run noise twice, so it errs on the wide side.

**Cost.** One :func:`quality_interval` evaluates F ``resamples + 1`` times (per-example ε of
``(resamples + 1) × n_examples`` rows), in as few compiled, parallel calls as memory allows
(:data:`CELLS_PER_CALL` values per call); :func:`entries_tied` twice that. With the default 200
resamples on two busy cores: about 0.15 s with the `official` rules for 30 examples at N = 32
(0.02 s with `exact`), 2 s for 70 examples at N = 512; the `over_examples` part is a few
vectorised sums.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scoring.epsilon import RULES, Rules, per_example_epsilons
from scoring.quality import epsilon_points, forgetting_quality

#: Resamples per call unless told otherwise: the variance has a Monte Carlo error of about
#: √(2 / 200) = 10% (5% on the width), small beside what N runs say about it.
DEFAULT_RESAMPLES = 200

#: Fewest runs (and references) accepted: below it a handful of runs decide the variance.
MIN_MODELS = 8

#: Fewest resamples accepted.
MIN_RESAMPLES = 20

#: Signal values (examples × models) handed to one per_example_epsilons call (32 MiB of float64).
CELLS_PER_CALL = 1 << 22


def dropped_runs(n_models: int) -> int:
    """``d``: how many runs each resample drops (and how many others it counts twice).

    Examples
    --------
    >>> [dropped_runs(n) for n in (8, 16, 32, 64, 512)]
    [1, 2, 4, 8, 64]
    """
    return max(1, round(int(n_models) / 8))


def _signals(value: ArrayLike, name: str, caller: str) -> NDArray[np.float64]:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"parameter '{name}' of {caller} must be an array of numbers") from exc
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(
            f"parameter '{name}' of {caller} must have shape (n_examples, N) with "
            f"n_examples >= 1, got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"parameter '{name}' of {caller} must be finite, got NaN or inf")
    return a


def _check_inputs(
    caller: str,
    named: list[tuple[str, ArrayLike]],
    options: tuple[str, float, int, ArrayLike | None, bool],
) -> tuple[list[NDArray[np.float64]], NDArray[np.int64] | None]:
    """Validated signal arrays (all one shape) and group labels 0..G−1 per example (or None).

    ``options`` are the caller's ``(rules, level, resamples, groups, over_examples)``.
    """
    rules, level, resamples, groups, over_examples = options
    arrays = [_signals(value, name, caller) for name, value in named]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        listed = ", ".join(
            f"'{name}' {a.shape}" for (name, _), a in zip(named, arrays, strict=True)
        )
        raise ValueError(
            f"parameters of {caller} must all have the same shape (n_examples, N): "
            f"the same examples and as many runs as references, got {listed}"
        )
    n_examples, n_models = arrays[0].shape
    if n_models < MIN_MODELS:
        raise ValueError(
            f"{caller} needs N >= {MIN_MODELS} runs and references, got N = {n_models}"
        )
    if rules not in RULES:
        raise ValueError(f"parameter 'rules' of {caller} must be one of {RULES}, got {rules!r}")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"parameter 'level' of {caller} must be in (0, 1), got {level!r}")
    integer = isinstance(resamples, int | np.integer) and not isinstance(resamples, bool)
    if not integer or resamples < MIN_RESAMPLES:
        raise ValueError(
            f"parameter 'resamples' of {caller} must be an integer >= {MIN_RESAMPLES}, "
            f"got {resamples!r}"
        )
    if groups is not None and not over_examples:
        raise ValueError(
            f"parameter 'groups' of {caller} applies only with over_examples=True "
            "(the run-level interval holds the forget examples fixed)"
        )
    labels = None if groups is None else _group_labels(groups, n_examples, caller)
    units = n_examples if labels is None else int(labels.max()) + 1
    if over_examples and units < 2:
        raise ValueError(
            f"over_examples of {caller} needs at least 2 examples or groups to resample, "
            f"got {units}"
        )
    return arrays, labels


def _group_labels(groups: ArrayLike, n_examples: int, caller: str) -> NDArray[np.int64]:
    """Each example's group as 0..G−1."""
    g = np.asarray(groups)
    if g.shape != (n_examples,) or not np.issubdtype(g.dtype, np.integer):
        raise ValueError(
            f"parameter 'groups' of {caller} must be an integer array of shape ({n_examples},) "
            f"(each example's group), got dtype {g.dtype} and shape {g.shape}"
        )
    labels: NDArray[np.int64] = np.unique(g, return_inverse=True)[1].astype(np.int64).reshape(-1)
    return labels


def _resample_columns(rng: np.random.Generator, n_models: int, size: int) -> NDArray[np.intp]:
    """Column indices of ``size`` drop-and-double resamples: (size, N)."""
    d = dropped_runs(n_models)
    order = np.argsort(rng.random((size, n_models)), axis=1)
    # order[:, :d] dropped, order[:, d:2d] twice, order[:, 2d:] once
    return np.concatenate([order[:, d : 2 * d], order[:, d:]], axis=1)


def _qualities(
    unlearned: NDArray[np.float64],
    references: NDArray[np.float64],
    columns: NDArray[np.intp],
    rules: Rules,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """F for each row of ``columns`` (runs of ``unlearned`` against all of ``references``).

    Returns F per row (size,) and H(ε) per row and example (size, n_examples).
    """
    n_examples, n_models = unlearned.shape
    size = columns.shape[0]
    qualities = np.empty(size)
    points = np.empty((size, n_examples))
    chunk = max(1, CELLS_PER_CALL // (n_examples * n_models))
    for start in range(0, size, chunk):
        cols = columns[start : start + chunk]
        k = cols.shape[0]
        u = unlearned[:, cols].transpose(1, 0, 2).reshape(k * n_examples, n_models)
        r = np.broadcast_to(references, (k, n_examples, n_models)).reshape(k * n_examples, n_models)
        eps = per_example_epsilons(u, r, rules=rules).reshape(k, n_examples)
        for row in range(k):
            qualities[start + row] = forgetting_quality(eps[row], n_models)
        points[start : start + k] = epsilon_points(eps, n_models)
    return qualities, points


def _run_level(
    unlearned: NDArray[np.float64],
    references: NDArray[np.float64],
    rules: Rules,
    rng: np.random.Generator,
    resamples: int,
) -> tuple[float, float, NDArray[np.float64]]:
    """F, the variance of F over fresh sets of runs, and H(ε) per example of the observed runs."""
    n_models = unlearned.shape[1]
    identity = np.arange(n_models)[None, :]
    columns = np.concatenate([identity, _resample_columns(rng, n_models, resamples)])
    qualities, points = _qualities(unlearned, references, columns, rules)
    f = float(qualities[0])
    resampled = qualities[1:]
    resampled = resampled[~np.isnan(resampled)]
    if math.isnan(f) or resampled.size < 2:
        return f, float("nan"), points[0]
    weight_variance = 2 * dropped_runs(n_models) / n_models
    return f, float(np.var(resampled, ddof=1) / weight_variance), points[0]


def _example_level(
    points: list[NDArray[np.float64]],
    labels: NDArray[np.int64] | None,
    rng: np.random.Generator,
    resamples: int,
) -> float:
    """Bootstrap variance over examples (whole groups when labelled) of the mean H(ε) of one
    entry, or of the paired difference of two, with the runs fixed."""
    n_examples = points[0].size
    if labels is None:
        labels = np.arange(n_examples, dtype=np.int64)
    n_groups = int(labels.max()) + 1
    draws = rng.integers(0, n_groups, size=(resamples, n_groups))
    counts = np.zeros((resamples, n_groups))
    np.add.at(counts, (np.arange(resamples)[:, None], draws), 1.0)
    means = []
    for p in points:
        valid = ~np.isnan(p)
        sums = np.bincount(labels, weights=np.where(valid, p, 0.0), minlength=n_groups)
        scorable = np.bincount(labels, weights=valid.astype(np.float64), minlength=n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append((counts @ sums) / (counts @ scorable))
    values = means[0] if len(means) == 1 else means[0] - means[1]
    values = values[~np.isnan(values)]
    if values.size < 2:
        return float("nan")
    # the bootstrap variance of a mean of G values is (G − 1)/G of the usual estimate
    return float(np.var(values, ddof=1) * n_groups / (n_groups - 1))


def _z(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + float(level) / 2)


def quality_interval(
    unlearned: ArrayLike,
    references: ArrayLike,
    *,
    rules: Rules = "official",
    level: float = 0.95,
    seed: int = 0,
    groups: ArrayLike | None = None,
    over_examples: bool = False,
    resamples: int = DEFAULT_RESAMPLES,
) -> tuple[float, float]:
    """Interval for the F that a fresh set of N runs of the same method would get.

    Covers, with probability ``level``, the F of a rerun (N new runs) against these references on
    these forget examples (with ``over_examples``, on a fresh forget set drawn like this one too).
    Centred on the observed F (:func:`forgetting_quality` of :func:`per_example_epsilons`),
    half-width ``z·√2·σ`` (module docstring); divide the half-width by √2 for an interval of the
    method's expected F instead. F is evaluated ``resamples + 1`` times in one vectorised pass.

    Parameters
    ----------
    unlearned, references : array_like of shape (n_examples, N)
        Signals φ (:func:`scoring.logit_scaled_confidence`) of each forget example (row) under
        each run of the method, and under each reference model (columns).
    rules : {"official", "exact"}, default "official"
        The ε rule family (:func:`per_example_epsilons`).
    level : float, default 0.95
    seed : int, default 0
        Seeds the resampling (same inputs and seed, same interval).
    groups : array_like of int, shape (n_examples,), optional
        Each example's group (whole-group forgetting): ``over_examples`` resamples whole groups.
    over_examples : bool, default False
        Add the bootstrap variance over examples (groups), runs fixed, to the run-level one.
    resamples : int, default 200 (:data:`DEFAULT_RESAMPLES`)

    Returns ``(low, high)`` within [0, 1], ``(nan, nan)`` when no example is scorable; raises
    ValueError for arrays not 2-D, not of one shape, empty or not finite, N below
    :data:`MIN_MODELS`, and a bad ``rules``, ``level``, ``resamples`` or ``groups``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> refs = rng.normal(size=(30, 16)) + rng.normal(size=16)
    >>> runs = rng.normal(size=(30, 16)) + rng.normal(size=16) + 0.3
    >>> low, high = quality_interval(runs, refs, rules="exact", resamples=50)
    >>> f = forgetting_quality(per_example_epsilons(runs, refs, rules="exact"), 16)
    >>> bool(0.0 <= low <= f <= high <= 1.0)
    True
    """
    named = [("unlearned", unlearned), ("references", references)]
    options = (rules, level, resamples, groups, over_examples)
    (u, r), labels = _check_inputs("quality_interval", named, options)
    rng = np.random.default_rng(seed)
    f, variance, points = _run_level(u, r, rules, rng, int(resamples))
    if over_examples:
        variance += _example_level([points], labels, rng, int(resamples))
    if math.isnan(f) or math.isnan(variance):
        return float("nan"), float("nan")
    half = _z(level) * math.sqrt(2.0 * variance)
    return max(0.0, f - half), min(1.0, f + half)


def entries_tied(
    unlearned_a: ArrayLike,
    unlearned_b: ArrayLike,
    references: ArrayLike,
    *,
    rules: Rules = "official",
    level: float = 0.95,
    seed: int = 0,
    groups: ArrayLike | None = None,
    over_examples: bool = False,
    resamples: int = DEFAULT_RESAMPLES,
) -> bool:
    """Whether two entries' F cannot be told apart at ``level``, given how runs vary.

    Tied when ``|F_a − F_b| ≤ z·√(σ_a² + σ_b²)``, each σ² the variance of that entry's F over
    fresh sets of runs against the shared references (each entry's runs resampled on their own:
    module docstring), so two sets of runs of one method are called not tied about
    ``1 − level`` of the time. ``over_examples`` adds the paired bootstrap variance of
    ``F_a − F_b`` over examples (whole groups when ``groups`` is given). F is evaluated
    ``2 × (resamples + 1)`` times.

    Parameters
    ----------
    unlearned_a, unlearned_b : array_like of shape (n_examples, N)
        Signals φ of the two entries' runs on the same forget examples (rows).
    references : array_like of shape (n_examples, N)
        The reference models' signals, shared by both entries.
    rules, level, seed, groups, over_examples, resamples
        As in :func:`quality_interval`.

    Returns
    -------
    bool
        False when either F is undefined (no scorable example).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> refs = rng.normal(size=(30, 16))
    >>> a, b = rng.normal(size=(30, 16)), rng.normal(size=(30, 16))
    >>> entries_tied(a, b, refs, rules="exact", resamples=50)
    True
    >>> entries_tied(a, b + 5.0, refs, rules="exact", resamples=50)
    False
    """
    (ua, ub, r), labels = _check_inputs(
        "entries_tied",
        [("unlearned_a", unlearned_a), ("unlearned_b", unlearned_b), ("references", references)],
        (rules, level, resamples, groups, over_examples),
    )
    seq_a, seq_b, seq_examples = np.random.SeedSequence(seed).spawn(3)
    fa, va, pa = _run_level(ua, r, rules, np.random.default_rng(seq_a), int(resamples))
    fb, vb, pb = _run_level(ub, r, rules, np.random.default_rng(seq_b), int(resamples))
    variance = va + vb
    if over_examples:
        rng = np.random.default_rng(seq_examples)
        variance += _example_level([pa, pb], labels, rng, int(resamples))
    if math.isnan(fa) or math.isnan(fb) or math.isnan(variance):
        return False
    return bool(abs(fa - fb) <= _z(level) * math.sqrt(variance))
