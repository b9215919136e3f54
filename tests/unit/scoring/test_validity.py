"""scoring.validity on constructed cases: the null distribution, the planner, rank agreement."""

from __future__ import annotations

import math

import numpy as np
import pytest

import scoring
from scoring import validity as v


def test_the_null_is_retrain_against_retrain_over_disjoint_splits():
    rng = np.random.default_rng(3)
    phi = rng.normal(size=(200, 64))  # every reference drawn alike: a perfect method's world
    f = v.null_forgetting_quality(phi, 16, splits=20, seed=5)
    assert f.shape == (20,) and np.all((f > 0) & (f < 1))
    # the first split by hand: the same draw, the same ε kernels, the same F
    draw = np.random.default_rng(5).permutation(64)[:32]
    eps = scoring.per_example_epsilons(phi[:, draw[:16]], phi[:, draw[16:]])
    assert f[0] == scoring.forgetting_quality(eps, 16)
    assert len(set(np.round(f, 12))) > 10  # many splits, not one split repeated
    # F of a perfect method grows with N (SCORING.md §6)
    big = v.null_forgetting_quality(phi, 32, splits=20, seed=5)
    assert big.mean() > f.mean()


def test_the_null_refuses_a_pool_too_small_for_its_split():
    with pytest.raises(ValueError, match="pool // 2 = 4"):
        v.null_forgetting_quality(np.zeros((3, 8)), 5)


def test_the_planner_inverts_a_known_spread():
    # sd(N) = 0.2 / sqrt(N): a difference d needs 2.8016² · 2 · 0.04 / d² models
    sd = {n: 0.2 / math.sqrt(n) for n in (4, 8, 16, 32)}
    plan = v.models_for_difference(sd, 0.05)
    want = (2 * 0.04 * (1.959964 + 0.841621) ** 2) / 0.05**2  # past the measured N: the fit
    assert plan.exponent == pytest.approx(-0.5)
    assert plan.n_models == math.ceil(want)
    assert v.models_for_difference(sd, 0.2).n_models == 16  # measured: 2.8·√2·0.05 ≤ 0.2
    assert v.models_for_difference(sd, 0.1).n_models < plan.n_models
    flat = v.models_for_difference({4: 0.1, 8: 0.1}, 0.05)
    assert flat.n_models is None  # no shrinking spread: no N will do


def test_kendall_tau_and_its_interval():
    a = np.arange(30.0)
    tau, low, high = v.kendall_tau_interval(a, a, resamples=200)
    assert tau == 1.0 and low == pytest.approx(1.0) and high == pytest.approx(1.0)
    tau, low, high = v.kendall_tau_interval(a, -a, resamples=200)
    assert tau == -1.0
    rng = np.random.default_rng(0)
    tau, low, high = v.kendall_tau_interval(a, a + rng.normal(0, 10, 30), resamples=300)
    assert low < tau < high and 0 < tau < 1
    assert math.isnan(v.kendall_tau_interval([1, 2], [1, 2])[0])  # too few entries


def test_swings_and_correlations_leave_out_unscored_entries():
    a = np.array([0.9, 0.8, 0.7, 0.6, np.nan])
    b = np.array([0.6, 0.8, 0.7, 0.9, 0.1])
    assert v.rank_swings(a, b) == [(0, 1, 4), (3, 4, 1)]
    rho, n = v.rank_correlation([1, 2, 3, np.nan], [3, 2, 1, 0])
    assert rho == pytest.approx(-1.0) and n == 3


def test_the_null_in_blocks_equals_the_null_in_one_call(monkeypatch):
    """Splits go to the kernels in blocks that bound memory; the values do not change."""
    phi = np.random.default_rng(8).normal(size=(40, 32))
    whole = v.null_forgetting_quality(phi, 8, splits=9, seed=2)
    monkeypatch.setattr(v, "NULL_BLOCK_VALUES", 40 * 8 * 2)  # two splits per call
    assert np.array_equal(v.null_forgetting_quality(phi, 8, splits=9, seed=2), whole)
