"""Secondary metrics on small hand-checkable inputs, and the library's docstring examples."""

from __future__ import annotations

import doctest
import importlib
import math

import numpy as np
import pytest

import scoring

MODULES = [
    "scoring.signal",
    "scoring.epsilon",
    "scoring.quality",
    "scoring.score",
    "scoring.bootstrap",
    "scoring.secondary",
    "scoring.validity",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_jsd_of_identical_distributions_is_zero():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    assert scoring.jensen_shannon(p, p) == pytest.approx(0.0, abs=1e-15)


def test_jsd_of_disjoint_one_hots_is_ln2():
    assert scoring.jensen_shannon(np.eye(3), np.roll(np.eye(3), 1, axis=1)) == pytest.approx(
        math.log(2), abs=1e-6
    )


def test_jsd_is_symmetric_and_bounded():
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(4), size=3), rng.dirichlet(np.ones(4), size=3)
    assert scoring.jensen_shannon(p, q) == pytest.approx(scoring.jensen_shannon(q, p))
    assert 0 <= scoring.jensen_shannon(p, q) <= math.log(2)


def test_class_mean_softmax_hand_case():
    logits = np.array([[0.0, 0.0], [math.log(3), 0.0], [0.0, 0.0]])
    out = scoring.class_mean_softmax(logits, np.array([0, 0, 1]), np.array([0, 1, 2]))
    np.testing.assert_allclose(out[0], [(0.5 + 0.75) / 2, (0.5 + 0.25) / 2])
    np.testing.assert_allclose(out[1], [0.5, 0.5])
    assert np.isnan(out[2]).all()  # no example of class 2


def test_mia_is_chance_on_identical_losses_and_perfect_when_separable():
    rng = np.random.default_rng(3)
    assert (
        abs(scoring.mia_accuracy(rng.exponential(size=500), rng.exponential(size=500)) - 0.5) < 0.06
    )
    assert scoring.mia_accuracy(np.full(40, 0.01), np.full(40, 3.0)) == 1.0
    assert scoring.mia_accuracy(rng.normal(0, 1, 300), rng.normal(3, 1, 300)) > 0.9


def test_mia_subsamples_to_the_smaller_set_and_is_seeded():
    rng = np.random.default_rng(4)
    f, t = rng.normal(size=30), rng.normal(1, 1, size=3000)
    assert scoring.mia_accuracy(f, t, seed=1) == scoring.mia_accuracy(f, t, seed=1)
    with pytest.raises(ValueError, match="at least 5"):
        scoring.mia_accuracy(f[:3], t)


def test_average_gap():
    assert scoring.average_gap({"a": 1.0, "b": 0.5}, {"a": 0.5, "b": 0.5, "c": 9}) == pytest.approx(
        0.25
    )
    with pytest.raises(ValueError):
        scoring.average_gap({"a": 1.0}, {"b": 1.0})


def test_scoring_imports_no_web_database_or_queue_package():
    import subprocess
    import sys

    code = (
        "import sys, scoring; bad = [m for m in ('fastapi','sqlalchemy','celery','redis','server','worker')"
        " if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
