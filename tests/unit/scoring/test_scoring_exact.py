"""The `exact` rules against a brute-force enumeration, and their properties (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import scoring
from scoring._official_kernel import _intervals_lattice, _intervals_walk
from scoring.reference import (
    exact_epsilon_brute_force,
    exact_epsilon_quadratic,
    official_epsilon_numpy,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def groups(draw, min_n: int = 2, max_n: int = 10):
    """Two groups of N signals; small integer grids make ties and constant groups likely."""
    n = draw(st.integers(min_n, max_n))
    coarse = draw(st.booleans())
    elems = st.integers(-3, 3).map(float) if coarse else st.floats(-5, 5, allow_nan=False, width=32)
    u = draw(arrays(np.float64, n, elements=elems))
    r = draw(arrays(np.float64, n, elements=elems))
    return u, r


@SETTINGS
@given(groups())
def test_exact_equals_brute_force(ur):
    u, r = ur
    got = scoring.per_example_epsilons(u[None], r[None], rules="exact")[0]
    want = exact_epsilon_brute_force(u, r)
    if np.isnan(want):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("n", [40, 160])
def test_the_pruned_exact_kernel_equals_every_start_and_length(n):
    """The kernel stops where no rule can beat the best so far; the result is the same."""
    rng = np.random.default_rng(n)
    rows = []
    for shift in (0.0, 0.3, 1.0, 3.0):
        rows.append((rng.normal(size=n) + shift, rng.normal(size=n)))
        rows.append((np.round(rng.normal(size=n) + shift, 1), np.round(rng.normal(size=n), 1)))
        rows.append((rng.exponential(size=n) + shift, rng.normal(size=n)))
    u = np.array([row[0] for row in rows])
    r = np.array([row[1] for row in rows])
    got = scoring.per_example_epsilons(u, r, rules="exact")
    want = np.array([exact_epsilon_quadratic(a, b) for a, b in rows])
    assert np.all(np.abs(got - want) <= 1e-12), np.abs(got - want).max()
    if n == 40:  # small enough for the interval-by-interval enumeration too
        brute = np.array([exact_epsilon_brute_force(a, b) for a, b in rows[:6]])
        assert np.all(np.abs(got[:6] - brute) <= 1e-12)


@SETTINGS
@given(groups(max_n=12))
def test_exact_is_never_below_official(ur):
    u, r = ur
    exact = scoring.per_example_epsilons(u[None], r[None], rules="exact")[0]
    official = scoring.per_example_epsilons(u[None], r[None])[0]
    if not np.isnan(official):
        assert exact >= official - 1e-5


@SETTINGS
@given(groups(), st.sampled_from([1 / 64, 0.25, 2.0, 8.0, 1024.0]), st.integers(-50, 50))
def test_exact_is_invariant_under_increasing_affine_maps(ur, scale, shift):
    """Maps that are exact in float64 (power-of-two scales, integer shifts, values on a 1/8 grid),
    so that rounding cannot create or break ties."""
    u, r = (np.round(g * 8) / 8 for g in ur)
    before = scoring.per_example_epsilons(u[None], r[None], rules="exact")
    after = scoring.per_example_epsilons(
        u[None] * scale + shift, r[None] * scale + shift, rules="exact"
    )
    np.testing.assert_allclose(after, before, atol=1e-12)


@SETTINGS
@given(groups())
def test_exact_is_symmetric_in_the_groups(ur):
    u, r = ur
    np.testing.assert_array_equal(
        scoring.per_example_epsilons(u[None], r[None], rules="exact"),
        scoring.per_example_epsilons(r[None], u[None], rules="exact"),
    )


def test_official_is_not_scale_invariant_but_exact_is():
    rng = np.random.default_rng(0)
    u, r = rng.normal(size=(30, 32)), rng.normal(0.3, 1, size=(30, 32))
    official = scoring.per_example_epsilons(u, r)
    official_small = scoring.per_example_epsilons(u * 1e-3, r * 1e-3)
    assert not np.allclose(official, official_small, equal_nan=True)
    np.testing.assert_allclose(
        scoring.per_example_epsilons(u, r, rules="exact"),
        scoring.per_example_epsilons(u * 1e-3, r * 1e-3, rules="exact"),
    )


@pytest.mark.parametrize("rules", ["official", "exact"])
def test_identical_groups_give_a_low_epsilon_on_average(rules):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 64))
    y = rng.normal(size=(300, 64))  # same distribution, independent draws
    same = np.nanmean(scoring.per_example_epsilons(x, y, rules=rules))
    far = np.nanmean(scoring.per_example_epsilons(x, y + 3.0, rules=rules))
    ceiling = np.log(64 - 1)  # the largest finite ε at N = 64
    assert same < 0.6 * ceiling  # a maximum over many rules is biased up, but stays well below
    assert far > same + 1.0


def test_official_kernel_equals_plain_numpy_reference():
    rng = np.random.default_rng(2)
    for n in (8, 64):
        u = rng.normal(size=(25, n))
        r = rng.normal(0.2, 1.5, size=(25, n))
        u[::5] = np.round(u[::5], 2)  # ties on the 0.01 grid
        got = scoring.per_example_epsilons(u, r)
        want = np.array([official_epsilon_numpy(a, b) for a, b in zip(u, r, strict=True)])
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n", [8, 128, 512])
def test_lattice_fast_path_equals_the_rule_by_rule_walk(n):
    rng = np.random.default_rng(n)
    flat = scoring.official_rule_table(n).ravel()
    used_lattice = 0
    for i in range(40):
        a = np.sort(rng.normal(size=n))
        b = np.sort(rng.normal(rng.choice([0.0, 0.5, 2.0]), rng.choice([0.5, 1.0, 2.0]), size=n))
        if i % 3 == 0:  # values on the 0.01 grid, and tie groups
            a, b = np.round(a, 2), np.round(b, 2)
        if (a[-1] - a[0]) > (b[-1] - b[0]):
            a, b = b, a
        w = a[-1] - a[0]
        lo, hi = a[0] + w - 2.0, a[-1] + 2.0
        k = int(np.ceil((hi - lo) * 100))
        fast = _intervals_lattice(a, b, flat, w, lo, hi, k)
        if fast != -2.0:
            used_lattice += 1
            assert fast == _intervals_walk(a, b, flat, w, lo, hi, k)
    assert used_lattice > 20
