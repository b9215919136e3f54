"""Hand-computed cases for the scoring library."""

from __future__ import annotations

import math

import numpy as np
import pytest

import scoring


def test_signal_is_logit_of_true_class_probability():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    labels = np.array([2, 0])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    py = p[[0, 1], labels]
    np.testing.assert_allclose(
        scoring.logit_scaled_confidence(logits, labels), np.log(py) - np.log1p(-py)
    )


def test_signal_is_clipped_like_the_official_code():
    phi = scoring.logit_scaled_confidence(np.array([[500.0, 0.0], [0.0, 500.0]]), np.array([0, 0]))
    assert phi[0] == pytest.approx(math.log(1e45))
    assert phi[1] == pytest.approx(-math.log(1e45))


def test_signal_keeps_leading_model_axis():
    logits = np.random.default_rng(0).normal(size=(5, 7, 3))
    assert scoring.logit_scaled_confidence(logits, np.zeros(7, int)).shape == (5, 7)


def test_rule_table_hand_values():
    t = scoring.official_rule_table(4)
    assert np.isinf(t[0, 0])  # perfect separation
    assert np.isnan(t[0, 1]) and np.isnan(t[3, 0])  # exactly one error count 0: discarded
    # FPR = FNR = 1/4: log(0.99999 - 0.25) - log(0.25) in float32
    assert t[1, 1] == pytest.approx(math.log(0.99999 - 0.25) - math.log(0.25), abs=1e-6)
    assert np.isnan(t[4, 4])  # both rates 1: both terms NaN
    assert t[2, 2] == 0.0  # FPR = FNR = 1/2 gives a negative log ratio, floored at 0


def test_perfect_separation_gives_the_cap():
    u = np.tile(np.arange(8.0), (3, 1))
    assert np.all(scoring.per_example_epsilons(u, u + 100.0) == 50.0)
    assert np.all(scoring.per_example_epsilons(u, u + 100.0, cap=20.0) == 20.0)


def test_degenerate_range_rule_is_symmetric():
    rng = np.random.default_rng(1)
    spread = rng.normal(size=(2, 16))
    flat = 0.5 + 1e-6 * rng.normal(size=(2, 16))
    assert np.all(scoring.per_example_epsilons(flat, spread) == 50.0)
    assert np.all(scoring.per_example_epsilons(spread, flat) == 50.0)
    assert scoring.degenerate_examples(flat, spread).all()


def test_equal_constant_groups_are_unscorable_not_an_error():
    u = np.full((2, 8), 1.5)
    eps = scoring.per_example_epsilons(u, u.copy())
    assert np.isnan(eps).all()
    assert math.isnan(scoring.forgetting_quality(eps, 8))


def test_identical_groups_give_low_epsilon_on_average():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 32))
    eps = scoring.per_example_epsilons(x, x.copy())
    assert np.nanmean(eps) < 1.0


def test_delta_enters_the_rule_table():
    assert scoring.official_rule_table(8, delta=0.1)[1, 1] < scoring.official_rule_table(8)[1, 1]


def test_permuting_models_does_not_change_epsilon():
    rng = np.random.default_rng(3)
    u, r = rng.normal(size=(6, 16)), rng.normal(0.5, 1, size=(6, 16))
    perm = rng.permutation(16)
    np.testing.assert_array_equal(
        scoring.per_example_epsilons(u, r), scoring.per_example_epsilons(u[:, perm], r[:, perm])
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"unlearned": np.zeros(4), "retrained": np.zeros(4)}, "must have shape"),
        ({"unlearned": np.zeros((2, 4)), "retrained": np.zeros((2, 5))}, "same shape"),
        ({"unlearned": np.full((2, 4), np.nan), "retrained": np.zeros((2, 4))}, "finite"),
        ({"unlearned": np.zeros((2, 1)), "retrained": np.zeros((2, 1))}, "N >= 2"),
    ],
)
def test_bad_inputs_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        scoring.per_example_epsilons(**kwargs)


def test_unknown_rules_are_rejected():
    with pytest.raises(ValueError, match="rules"):
        scoring.per_example_epsilons(np.zeros((1, 4)), np.ones((1, 4)), rules="grid")  # type: ignore[arg-type]


@pytest.mark.parametrize(("n", "limit"), [(8, 2), (32, 4), (128, 5), (512, 7)])
def test_bucket_limit(n, limit):
    assert scoring.max_epsilon(n) == limit


def test_points_and_quality():
    eps = np.array([0.0, 0.5, 1.0, 1.49, 3.99, 4.0, np.nan])
    np.testing.assert_array_equal(
        scoring.epsilon_points(eps, 32)[:6], [1.0, 0.5, 0.25, 0.25, 2.0**-7, 0.0]
    )
    assert scoring.forgetting_quality(eps, 32) == pytest.approx(
        (1 + 0.5 + 0.25 + 0.25 + 2.0**-7) / 6
    )


def test_final_score_and_zero_rate_edge_cases():
    assert scoring.final_score(0.5, 90.0, 100.0, 80.0, 80.0) == pytest.approx(0.45)
    assert scoring.final_score(0.0, 90.0, 100.0, 80.0, 80.0) == 0.0
    assert scoring.final_score(0.5, 1.0, 0.5, 1.0, 1.0) == pytest.approx(1.0)  # not capped
    with pytest.raises(ValueError, match="retain_acc_retrained"):
        scoring.final_score(0.5, 0.9, 0.0, 0.8, 0.8)


def test_bootstrap_interval_contains_point_estimate_and_is_seeded():
    points = np.random.default_rng(4).choice([0.0, 0.25, 0.5, 1.0], size=300)
    low, high = scoring.bootstrap_score_interval(points, 0.9, n_resamples=500, seed=7)
    assert low <= points.mean() * 0.9 <= high
    assert (low, high) == scoring.bootstrap_score_interval(points, 0.9, n_resamples=500, seed=7)


def test_paired_tie_detection():
    rng = np.random.default_rng(5)
    a = rng.choice([0.0, 1.0], size=400)
    assert scoring.statistically_tied(a, 1.0, a.copy(), 1.0)
    assert not scoring.statistically_tied(a, 1.0, np.zeros(400), 1.0)


def test_neighbour_ties_equal_the_pairwise_test():
    import numpy as np

    import scoring

    rng = np.random.default_rng(5)
    rows = rng.choice([0.0, 0.25, 0.5, 1.0, np.nan], size=(12, 40), p=[0.3, 0.2, 0.2, 0.25, 0.05])
    rows[3] = rows[2]  # an exact tie
    factors = rng.uniform(0.8, 1.0, 12)
    factors[3] = factors[2]
    fast = scoring.neighbour_ties(rows, factors, n_resamples=300, seed=3)
    slow = [
        scoring.statistically_tied(
            rows[i], factors[i], rows[i + 1], factors[i + 1], n_resamples=300, seed=3
        )
        for i in range(11)
    ]
    assert fast == slow and fast[2] is True
    assert scoring.neighbour_ties(rows[:1], factors[:1]) == []
