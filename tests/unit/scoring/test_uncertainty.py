"""Run-level uncertainty of F (scoring.uncertainty): calibration on synthetic signals with a
model-level effect, the old example-level method's failure on the same data, and input checks.

The synthetic signals: forget example i has a level μ_i ~ N(3, 2²); a method moves it by a
per-example δ_i ~ N(shift, 0.3²) (a property of the method, fixed across reruns); every model
(reference or run) adds its own shift s ~ N(0, 1.5²) to all examples (the model-level effect that
correlates the examples) and independent noise N(0, 1) per example. References have shift 0.

    python tests/unit/scoring/test_uncertainty.py [--pairs 300] [--resamples 200]
    python tests/unit/scoring/test_uncertainty.py --demo 32,64 --pairs 100

print the calibration table quoted in docs/scoring.md ("Run-level uncertainty"), and the same
rates on the demo's pool of references and fine-tuning runs (trained on the spot, about a minute).
"""

from __future__ import annotations

import argparse
import doctest
import time
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scoring
from scoring import uncertainty
from scoring.uncertainty import entries_tied, quality_interval

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

N_EXAMPLES = 30
RUN_EFFECT = 1.5  # sd of each model's shift shared by all examples
SAME_SHIFT = 0.3  # the method of the tie and coverage checks (close to retraining)
OTHER_SHIFT = 2.0  # a clearly different method (F about half)


def _models(rng, mu, delta, n_models, run_effect=RUN_EFFECT, noise=1.0):
    """Signals (n_examples, n_models): example level + method effect + model shift + noise."""
    shifts = run_effect * rng.normal(size=n_models)
    noises = noise * rng.normal(size=(mu.size, n_models))
    return mu[:, None] + delta[:, None] + shifts[None, :] + noises


def _f(unlearned, references, rules):
    eps = scoring.per_example_epsilons(unlearned, references, rules=rules)
    return scoring.forgetting_quality(eps, unlearned.shape[1])


@dataclass
class Calibration:
    not_tied: float  # two reruns of one method called different (nominal 1 - level)
    coverage: float  # the interval of one rerun holds another rerun's F (nominal level)
    power: float  # a clearly different method called different
    old_not_tied: float  # the same with scoring.bootstrap (examples resampled, runs fixed)
    old_coverage: float


def calibrate(
    rules, n_models, pairs, resamples, seed=0, power=True, run_effect=RUN_EFFECT, method=None
):
    """Rates over ``pairs`` fresh problems (examples, references, reruns), each seeded.

    ``method``: (shift, noise) of the method checked for ties and coverage (default: SAME_SHIFT
    and the references' noise 1.0); the references' and the runs' shifts have sd ``run_effect``.
    """
    shift, noise = method or (SAME_SHIFT, 1.0)
    rng = np.random.default_rng(seed)
    counts = np.zeros(5)
    for k in range(pairs):
        mu = rng.normal(3.0, 2.0, N_EXAMPLES)
        same = shift + 0.3 * rng.normal(size=N_EXAMPLES)
        refs = _models(rng, mu, np.zeros(N_EXAMPLES), n_models, run_effect)
        a, b = (_models(rng, mu, same, n_models, run_effect, noise) for _ in range(2))
        opts = {"rules": rules, "seed": k, "resamples": resamples}
        low, high = quality_interval(a, refs, **opts)
        counts[0] += not entries_tied(a, b, refs, **opts)
        counts[1] += low <= _f(b, refs, rules) <= high
        if power:
            other = OTHER_SHIFT + 0.3 * rng.normal(size=N_EXAMPLES)
            counts[2] += not entries_tied(
                a, _models(rng, mu, other, n_models, run_effect), refs, **opts
            )
        pa, pb = (
            scoring.epsilon_points(scoring.per_example_epsilons(x, refs, rules=rules), n_models)
            for x in (a, b)
        )
        counts[3] += not scoring.statistically_tied(pa, 1.0, pb, 1.0, seed=k)
        low, high = scoring.bootstrap_score_interval(pa, 1.0, seed=k)
        counts[4] += low <= float(np.nanmean(pb)) <= high
    return Calibration(*(counts / pairs).tolist())


@pytest.fixture(scope="module")
def exact_calibration():
    return calibrate("exact", n_models=32, pairs=150, resamples=100)


def test_two_reruns_of_one_method_are_rarely_called_different(exact_calibration):
    assert exact_calibration.not_tied <= 0.10


def test_interval_covers_the_f_of_a_rerun(exact_calibration):
    assert 0.85 <= exact_calibration.coverage <= 0.99


def test_clearly_different_methods_are_told_apart(exact_calibration):
    assert exact_calibration.power >= 0.80


def test_example_level_bootstrap_fails_on_the_same_data(exact_calibration):
    """Why the change: resampling examples with the runs fixed ignores the shared run effect."""
    assert exact_calibration.old_not_tied >= 0.15
    assert exact_calibration.old_coverage <= 0.80
    assert exact_calibration.old_not_tied > 2 * exact_calibration.not_tied


def test_official_rules_are_calibrated_too():
    """A smaller check with the default rules (ten times slower than `exact`)."""
    cal = calibrate("official", n_models=16, pairs=40, resamples=60, seed=1, power=False)
    assert cal.not_tied <= 0.15
    assert cal.coverage >= 0.80


def test_over_groups_covers_a_fresh_forget_set_of_groups():
    """Whole-group forgetting with groups that differ: fresh groups move F more than reruns."""
    rng = np.random.default_rng(2)
    n_groups, size, n_models, trials = 8, 4, 32, 80
    groups = np.repeat(np.arange(n_groups), size)

    def forget_set(ref_shifts):
        mu = np.repeat(rng.normal(3.0, 2.0, n_groups), size) + 0.5 * rng.normal(size=groups.size)
        delta = np.repeat(np.abs(3.0 * rng.normal(size=n_groups)), size)
        noise = rng.normal(size=(groups.size, n_models))
        return mu[:, None] + ref_shifts + noise, _models(rng, mu, delta, n_models)

    covered = np.zeros(2)
    for k in range(trials):
        ref_shifts = RUN_EFFECT * rng.normal(size=n_models)  # the same reference models
        refs, runs = forget_set(ref_shifts)
        fresh = _f(*reversed(forget_set(ref_shifts)), "exact")
        for j, over in enumerate((False, True)):
            opts = {"groups": groups} if over else {}
            low, high = quality_interval(
                runs, refs, rules="exact", seed=k, resamples=60, over_examples=over, **opts
            )
            covered[j] += low <= fresh <= high
    runs_only, over_groups = covered / trials
    assert 0.85 <= over_groups <= 0.99
    assert runs_only < over_groups


def _problem(seed=0, n_models=16, shift=0.3):
    rng = np.random.default_rng(seed)
    mu = rng.normal(3.0, 2.0, N_EXAMPLES)
    refs = _models(rng, mu, np.zeros(N_EXAMPLES), n_models)
    return _models(rng, mu, np.full(N_EXAMPLES, shift), n_models), refs


def test_interval_is_centred_on_the_metric_and_seeded():
    runs, refs = _problem()
    low, high = quality_interval(runs, refs, resamples=40)
    f = _f(runs, refs, "official")
    assert 0.0 < low < f < high < 1.0
    assert (low + high) / 2 == pytest.approx(f)
    assert quality_interval(runs, refs, resamples=40) == (low, high)
    assert quality_interval(runs, refs, resamples=40, seed=1) != (low, high)
    narrow = quality_interval(runs, refs, resamples=40, level=0.5)
    assert low < narrow[0] < narrow[1] < high


def test_chunked_evaluation_gives_the_same_interval(monkeypatch):
    runs, refs = _problem(n_models=8)
    whole = quality_interval(runs, refs, rules="exact", resamples=30)
    monkeypatch.setattr(uncertainty, "CELLS_PER_CALL", 7 * N_EXAMPLES * 8)
    assert quality_interval(runs, refs, rules="exact", resamples=30) == whole


def test_deterministic_method_has_no_run_variance():
    runs, refs = _problem()
    same_runs = np.repeat(runs[:, :1], runs.shape[1], axis=1)  # every run the same model
    assert quality_interval(same_runs, refs, resamples=20) == (0.0, 0.0)
    assert entries_tied(same_runs, same_runs.copy(), refs, resamples=20)


def test_unscorable_examples_give_no_interval():
    flat = np.full((3, 8), 1.5)  # equal constant groups: no rule survives
    low, high = quality_interval(flat, flat, resamples=20)
    assert np.isnan(low) and np.isnan(high)
    assert not entries_tied(flat, flat, flat, resamples=20)


def test_one_entry_is_tied_with_itself_and_not_with_a_far_one():
    runs, refs = _problem()
    assert entries_tied(runs, runs, refs, resamples=20)
    far, _ = _problem(shift=6.0)
    assert not entries_tied(runs, far, refs, resamples=20)


def test_exported_and_documented():
    assert scoring.quality_interval is quality_interval
    assert scoring.entries_tied is entries_tied
    result = doctest.testmod(uncertainty, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


# --- input validation (hypothesis) ---------------------------------------------------------


def _signals(rng, n_examples, n_models):
    return rng.normal(size=(n_examples, n_models))


@SETTINGS
@given(n_examples=st.integers(1, 5), n_models=st.integers(2, 7), seed=st.integers(0, 99))
def test_too_few_models_is_a_clear_error(n_examples, n_models, seed):
    rng = np.random.default_rng(seed)
    u, r = _signals(rng, n_examples, n_models), _signals(rng, n_examples, n_models)
    with pytest.raises(ValueError, match="needs N >= 8"):
        quality_interval(u, r)
    with pytest.raises(ValueError, match="needs N >= 8"):
        entries_tied(u, u, r)


@SETTINGS
@given(
    shape_u=st.tuples(st.integers(1, 5), st.integers(8, 12)),
    shape_r=st.tuples(st.integers(1, 5), st.integers(8, 12)),
    which=st.sampled_from(["a", "b", "references"]),
)
def test_shapes_must_agree(shape_u, shape_r, which):
    rng = np.random.default_rng(0)
    u, r = rng.normal(size=shape_u), rng.normal(size=shape_r)
    if shape_u != shape_r:
        with pytest.raises(ValueError, match="same shape"):
            quality_interval(u, r)
    arrays = {"a": u, "b": u, "references": u}
    arrays[which] = r
    if shape_u != shape_r:
        with pytest.raises(ValueError, match="same shape"):
            entries_tied(arrays["a"], arrays["b"], arrays["references"])


@SETTINGS
@given(
    ndim=st.sampled_from([0, 1, 3]),
    which=st.integers(0, 1),
)
def test_signals_must_be_two_dimensional(ndim, which):
    bad = np.zeros((2,) * ndim) if ndim else np.float64(1.0)
    good = np.zeros((2, 8))
    args = [good, good]
    args[which] = bad
    with pytest.raises(ValueError, match=r"shape \(n_examples, N\)"):
        quality_interval(*args)


@SETTINGS
@given(
    value=st.sampled_from([np.nan, np.inf, -np.inf]),
    row=st.integers(0, 3),
    col=st.integers(0, 9),
    which=st.integers(0, 2),
)
def test_nan_or_inf_is_a_clear_error(value, row, col, which):
    rng = np.random.default_rng(row * 10 + col)
    arrays = [rng.normal(size=(4, 10)) for _ in range(3)]
    arrays[which][row, col] = value
    with pytest.raises(ValueError, match="must be finite"):
        entries_tied(*arrays)
    if which < 2:
        with pytest.raises(ValueError, match="must be finite"):
            quality_interval(arrays[which], arrays[2])


@SETTINGS
@given(
    level=st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0), st.just(float("nan"))),
)
def test_level_must_be_a_probability(level):
    u = np.random.default_rng(0).normal(size=(3, 8))
    with pytest.raises(ValueError, match="'level'"):
        quality_interval(u, u, level=level)


@SETTINGS
@given(resamples=st.one_of(st.integers(-5, 19), st.floats(20.0, 300.0), st.just(True)))
def test_resamples_must_be_a_large_enough_integer(resamples):
    u = np.random.default_rng(0).normal(size=(3, 8))
    with pytest.raises(ValueError, match="'resamples'"):
        quality_interval(u, u, resamples=resamples)


@SETTINGS
@given(length=st.integers(0, 8), as_float=st.booleans())
def test_groups_must_label_every_example_with_an_integer(length, as_float):
    u = np.random.default_rng(0).normal(size=(5, 8))
    groups = np.arange(length, dtype=float if as_float else int)
    if length == 5 and not as_float:
        return  # a valid labelling
    with pytest.raises(ValueError, match="'groups'"):
        quality_interval(u, u, groups=groups, over_examples=True)


def test_groups_need_over_examples_and_two_groups():
    u = np.random.default_rng(0).normal(size=(5, 8))
    with pytest.raises(ValueError, match="only with over_examples"):
        quality_interval(u, u, groups=np.zeros(5, int))
    with pytest.raises(ValueError, match="at least 2"):
        quality_interval(u, u, groups=np.zeros(5, int), over_examples=True, resamples=20)


def test_unknown_rules_is_a_clear_error():
    u = np.random.default_rng(0).normal(size=(3, 8))
    with pytest.raises(ValueError, match="'rules'"):
        quality_interval(u, u, rules="fast")  # type: ignore[arg-type]


@SETTINGS
@given(
    n_examples=st.integers(1, 6),
    n_models=st.integers(8, 12),
    seed=st.integers(0, 1000),
    rules=st.sampled_from(["official", "exact"]),
)
def test_any_valid_input_gives_an_interval_around_f(n_examples, n_models, seed, rules):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n_examples, n_models)) + rng.normal()
    r = rng.normal(size=(n_examples, n_models))
    low, high = quality_interval(u, r, rules=rules, seed=seed, resamples=20)
    f = _f(u, r, rules)
    assert 0.0 <= low <= f <= high <= 1.0


# --- the table in docs/scoring.md ----------------------------------------------------------


SCENARIOS = (  # (rules, N, run effect, (shift, noise) of the method or None for the default)
    *(("exact", n, e, None) for n in (16, 32) for e in (0.5, 1.5, 2.5)),
    ("exact", 32, 1.0, (1.0, 0.7)),
    ("official", 16, 1.5, None),
    *(("official", 32, e, None) for e in (0.5, 1.5, 2.5)),
    ("official", 32, 1.0, (1.0, 0.7)),
)


def demo_signals(n_pool=512, epochs=3, lr=0.01):
    """The demo's pool: φ on its 100 forget examples of ``n_pool`` references (seeds 1..n_pool,
    as its preparation trains them) and of ``n_pool`` fine-tuning runs (the original trained on
    all of train, then ``epochs`` epochs of SGD at ``lr`` on retain, seeds 10001..)."""
    import copy

    import torch

    from core.competition_config import demo_config
    from worker.ml.batched import train_models_batched
    from worker.ml.preparation import init_model, spec_for
    from worker.ml.problem import build_problem
    from worker.ml.training import predict_logits, train_model

    config = demo_config()
    problem = build_problem(config)
    spec, cpu, labels = spec_for(config, problem), torch.device("cpu"), problem.forget.y.numpy()

    def phi(models):
        logits = [predict_logits(m, problem.forget, cpu) for m in models]
        return np.stack([scoring.logit_scaled_confidence(z, labels) for z in logits], axis=1)

    seeds = list(range(1, n_pool + 1))
    refs = train_models_batched(
        [init_model(spec, s) for s in seeds], seeds, problem.retain, config.recipe, cpu
    )
    original = train_model(
        init_model(spec, config.seed), problem.train, config.recipe, config.seed, cpu
    )
    recipe = config.recipe.model_copy(update={"epochs": epochs, "lr": lr})
    run_seeds = [10_000 + s for s in seeds]
    runs = train_models_batched(
        [copy.deepcopy(original) for _ in run_seeds], run_seeds, problem.retain, recipe, cpu
    )
    return phi(refs), phi(runs)


def demo(n_models, trials, resamples, pools, rules="official"):
    """Rates on the demo's pool: disjoint sets of N drawn at random from the pool per trial."""
    refs_pool, runs_pool = pools
    rng = np.random.default_rng(11)
    counts = np.zeros(7)
    for k in range(trials):
        p, q = rng.permutation(refs_pool.shape[1]), rng.permutation(runs_pool.shape[1])
        refs, ra, rb = (refs_pool[:, p[i * n_models : (i + 1) * n_models]] for i in range(3))
        fa, fb = (runs_pool[:, q[i * n_models : (i + 1) * n_models]] for i in range(2))
        opts = {"rules": rules, "seed": k, "resamples": resamples}
        for j, (a, b) in enumerate(((ra, rb), (fa, fb))):  # retraining, then fine-tuning
            low, high = quality_interval(a, refs, **opts)
            counts[3 * j] += not entries_tied(a, b, refs, **opts)
            counts[3 * j + 1] += low <= _f(b, refs, rules) <= high
            pa, pb = (
                scoring.epsilon_points(scoring.per_example_epsilons(x, refs, rules=rules), n_models)
                for x in (a, b)
            )
            counts[3 * j + 2] += not scoring.statistically_tied(pa, 1.0, pb, 1.0, seed=k)
        counts[6] += not entries_tied(ra, fa, refs, **opts)
    rates = counts / trials
    f_retrain, f_finetune = _f(ra, refs, rules), _f(fa, refs, rules)
    print(
        f"demo pool, {rules}, N = {n_models}, {trials} trials (last F: retrain "
        f"{f_retrain:.3f}, fine-tune {f_finetune:.3f})"
    )
    for j, name in enumerate(("retrain", "fine-tune")):
        print(
            f"  {name}: not tied {rates[3 * j]:.3f}, coverage of a rerun {rates[3 * j + 1]:.3f}, "
            f"example bootstrap not tied {rates[3 * j + 2]:.3f}"
        )
    print(f"  retrain vs fine-tune told apart: {rates[6]:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--resamples", type=int, default=uncertainty.DEFAULT_RESAMPLES)
    ap.add_argument("--demo", default="", help="N,N,...: on the demo's pool instead (trains it)")
    args = ap.parse_args()
    if args.demo:
        pools = demo_signals()
        for n_models in args.demo.split(","):
            demo(int(n_models), args.pairs, args.resamples, pools)
        return
    print(
        "| rules | N | run effect | method | not tied, one method | coverage of a rerun | power "
        "| example bootstrap: not tied | its coverage |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for rules, n_models, effect, method in SCENARIOS:
        start = time.perf_counter()
        c = calibrate(
            rules, n_models, args.pairs, args.resamples, seed=7, run_effect=effect, method=method
        )
        shown = "shift {}, noise {}".format(*(method or (SAME_SHIFT, 1.0)))
        print(
            f"| {rules} | {n_models} | {effect} | {shown} | {c.not_tied:.3f} | {c.coverage:.3f} "
            f"| {c.power:.3f} | {c.old_not_tied:.3f} | {c.old_coverage:.3f} |"
            f"  <!-- {time.perf_counter() - start:.0f} s -->",
            flush=True,
        )


if __name__ == "__main__":
    main()
