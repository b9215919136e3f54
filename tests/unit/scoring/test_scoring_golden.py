"""The `official` rules reproduce the 2023 competition's published metric (golden vectors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import scoring

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "official_eps_public.npz"


def _cases(only_ok: bool = False):
    with np.load(GOLDEN) as d:
        data = {k: d[k] for k in d.files}
    n = int(data["n_cases"])
    return [
        pytest.param(
            {
                k[len(f"case_{i:03d}_") :]: v
                for k, v in data.items()
                if k.startswith(f"case_{i:03d}_")
            },
            id=f"{i:03d}-{str(data[f'case_{i:03d}_kind'])}",
        )
        for i in range(n)
        if not only_ok or str(data[f"case_{i:03d}_status"]) == "ok"
    ]


@pytest.mark.parametrize("case", _cases())
def test_epsilons_match_official(case):
    eps = scoring.per_example_epsilons(case["unlearned"], case["retrained"])
    if str(case["status"]) == "ok":
        expected = case["eps"]
    else:  # the official call raised; each example scored alone says which ones are unscorable
        expected = case["eps_by_example"]
    assert eps.shape == expected.shape
    assert eps.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(eps), np.isnan(expected))
    ok = ~np.isnan(expected)
    np.testing.assert_allclose(eps[ok], expected[ok], rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "case", _cases(only_ok=True)
)  # where the official code raised there is no F
def test_forgetting_quality_and_final_match_official(case):
    n = int(case["N"])
    eps = scoring.per_example_epsilons(case["unlearned"], case["retrained"])
    f = scoring.forgetting_quality(eps, n)
    assert f == pytest.approx(float(case["F"]), abs=1e-12)
    final = scoring.final_score(
        f,
        case["u_retain_acc"].mean(),
        case["r_retain_acc"].mean(),
        case["u_test_acc"].mean(),
        case["r_test_acc"].mean(),
    )
    assert final == pytest.approx(float(case["final"]), abs=1e-6)


def test_unscorable_examples_are_left_out_of_f():
    with np.load(GOLDEN) as d:
        u, r, by_example = (
            d["case_016_unlearned"],
            d["case_016_retrained"],
            d["case_016_eps_by_example"],
        )
    eps = scoring.per_example_epsilons(u, r)
    assert np.isnan(eps).sum() == np.isnan(by_example).sum() >= 1
    expected = scoring.epsilon_points(by_example[~np.isnan(by_example)], u.shape[1]).mean()
    assert scoring.forgetting_quality(eps, u.shape[1]) == pytest.approx(expected)
