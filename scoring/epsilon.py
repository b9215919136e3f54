"""Per-example ε of forgetting: how well any rule tells unlearned from retrained (docs/scoring.md §4)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scoring._exact_kernel import exact_kernel
from scoring._official_kernel import official_kernel

Rules = Literal["official", "exact"]
RULES: tuple[str, ...] = ("official", "exact")

#: Range ratio under which one group counts as (almost) constant: ε is then the cap.
DEGENERATE_RATIO = 0.01

#: Values per group sorted at once (4 MiB of float64): see ``_best_rule``.
SORT_BLOCK_VALUES = 1 << 19


def official_rule_table(n_models: int, delta: float = 1e-5) -> NDArray[np.float64]:
    """ε of one decision rule as a function of its two error counts, as the 2023 code computes it.

    Entry ``[f, g]`` is the ε of a rule with ``f`` false positives and ``g`` false negatives
    out of ``n_models`` samples per group: ``max(0, log(1-δ-FPR) - log(FNR),
    log(1-δ-FNR) - log(FPR))`` evaluated in float32 exactly like the published code (rates
    ``float32(f) / float32(N)``, ``1-δ`` rounded to float32). ``+inf`` where both counts are
    0 (perfect separation), NaN where the rule is discarded (exactly one count is 0, or both
    rates are 1).

    Parameters
    ----------
    n_models : int
        Number of models in each group (N).
    delta : float, default 1e-5
        The δ of the (ε, δ) definition.

    Returns
    -------
    numpy.ndarray of shape (n_models + 1, n_models + 1), float64

    Examples
    --------
    >>> t = official_rule_table(4)
    >>> bool(np.isinf(t[0, 0])), bool(np.isnan(t[0, 2])), round(float(t[1, 1]), 4)
    (True, True, 1.0986)
    """
    n = int(n_models)
    one_minus_delta = np.float32(1.0 - delta)
    rate = np.arange(n + 1, dtype=np.float32) / np.float32(n)
    fpr = rate[:, None]
    fnr = rate[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = np.log(one_minus_delta - fpr) - np.log(fnr)
        e2 = np.log(one_minus_delta - fnr) - np.log(fpr)
        eps = np.maximum(np.float32(0.0), np.fmax(e1, e2))
    table = eps.astype(np.float64)
    counts = np.arange(n + 1)
    one_zero = (counts[:, None] == 0) ^ (counts[None, :] == 0)
    table[one_zero] = np.nan
    table[0, 0] = np.inf
    return table  # type: ignore[no-any-return]  # numpy's stubs lose the dtype of astype


def exact_rule_table(n_models: int, delta: float = 1e-5) -> NDArray[np.float64]:
    """Like :func:`official_rule_table`, in float64 with the exact ``1 − δ``.

    Examples
    --------
    >>> t = exact_rule_table(4)
    >>> round(float(t[1, 1]), 6) == round(float(np.log(1 - 1e-5 - 0.25) - np.log(0.25)), 6)
    True
    """
    n = int(n_models)
    rate = np.arange(n + 1, dtype=np.float64) / n
    fpr = rate[:, None]
    fnr = rate[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = np.log(1.0 - delta - fpr) - np.log(fnr)
        e2 = np.log(1.0 - delta - fnr) - np.log(fpr)
        table = np.maximum(0.0, np.fmax(e1, e2))
    counts = np.arange(n + 1)
    table[(counts[:, None] == 0) ^ (counts[None, :] == 0)] = np.nan
    table[0, 0] = np.inf
    return table  # type: ignore[no-any-return]


def _validate_groups(unlearned: ArrayLike, retrained: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    u = np.asarray(unlearned, dtype=np.float64)
    r = np.asarray(retrained, dtype=np.float64)
    for name, a in (("unlearned", u), ("retrained", r)):
        if a.ndim != 2:
            raise ValueError(
                f"parameter '{name}' of per_example_epsilons must have shape (n_examples, N), "
                f"got shape {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise ValueError(
                f"parameter '{name}' of per_example_epsilons must be finite, got NaN or inf"
            )
    if u.shape != r.shape:
        raise ValueError(
            "parameters 'unlearned' and 'retrained' of per_example_epsilons must have the same shape "
            f"(n_examples, N), got {u.shape} and {r.shape}"
        )
    if u.shape[1] < 2:
        raise ValueError(
            f"per_example_epsilons needs N >= 2 models per group, got N = {u.shape[1]}"
        )
    return u, r


def degenerate_examples(unlearned: ArrayLike, retrained: ArrayLike) -> NDArray[np.bool_]:
    """Examples where one group's range is under 1% of the other's (ε is then the cap).

    Two constant groups (0/0) are not degenerate: the rules decide them.
    """
    u = np.asarray(unlearned, dtype=np.float64)
    r = np.asarray(retrained, dtype=np.float64)
    ru = u.max(axis=1) - u.min(axis=1)
    rr = r.max(axis=1) - r.min(axis=1)
    largest = np.maximum(ru, rr)
    smallest = np.minimum(ru, rr)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = smallest / largest
    degenerate: NDArray[np.bool_] = ratio < DEGENERATE_RATIO  # NaN (0/0) compares False
    return degenerate


def per_example_epsilons(
    unlearned: ArrayLike,
    retrained: ArrayLike,
    *,
    rules: Rules = "official",
    delta: float = 1e-5,
    cap: float = 50.0,
) -> NDArray[np.float64]:
    """Per-example ε between unlearned and retrained signals.

    For each forget example, a family of decision rules tries to tell the N unlearned
    models' signals from the N retrained models'; ε is the largest privacy loss any rule
    certifies, capped at ``cap``. A group whose range is under 1% of the other's gets ``cap``.

    Parameters
    ----------
    unlearned : array_like of shape (n_examples, N)
        Signal φ (see :func:`scoring.logit_scaled_confidence`) of each forget example (row)
        under each unlearned model (column).
    retrained : array_like of shape (n_examples, N)
        The same for the models retrained without the forget set.
    rules : {"official", "exact"}, default "official"
        The rule family. ``"official"`` reproduces the NeurIPS 2023 competition's metric,
        including its float32 arithmetic and its grid of 0.01 units. ``"exact"`` takes the
        supremum over every interval with real edges around either group (which includes every
        single threshold), in float64: no grid error, and invariant under strictly increasing
        maps of φ.
    delta : float, default 1e-5
        The δ of the (ε, δ) definition.
    cap : float, default 50.0
        Upper bound of ε; perfect separation and degenerate groups get it.

    Returns
    -------
    numpy.ndarray of shape (n_examples,), float64
        ε per example in ``[0, cap]``; NaN for an unscorable example (no rule survives, e.g.
        two equal constant groups), which the published code would crash on.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> u, r = rng.normal(size=(3, 16)), rng.normal(size=(3, 16))
    >>> eps = per_example_epsilons(u, r)
    >>> eps.shape, bool(np.all((eps >= 0) & (eps <= 50)))
    ((3,), True)
    >>> float(per_example_epsilons(u, r + 100)[0])  # perfectly separable
    50.0
    """
    _check_parameters(rules, delta, cap)
    u, r = _validate_groups(unlearned, retrained)
    degenerate = degenerate_examples(u, r)
    best = _best_rule(u, r, rules, delta, degenerate)
    eps = np.where(best < 0, np.nan, np.minimum(best, cap))
    eps[degenerate] = cap
    return eps


def _check_parameters(rules: str, delta: float, cap: float) -> None:
    if rules not in RULES:
        raise ValueError(
            f"parameter 'rules' of per_example_epsilons must be one of {RULES}, got {rules!r}"
        )
    if not (0.0 <= float(delta) < 1.0):
        raise ValueError(
            f"parameter 'delta' of per_example_epsilons must be in [0, 1), got {delta!r}"
        )
    if not float(cap) > 0:
        raise ValueError(f"parameter 'cap' of per_example_epsilons must be > 0, got {cap!r}")


def _best_rule(
    u: NDArray[np.float64],
    r: NDArray[np.float64],
    rules: Rules,
    delta: float,
    degenerate: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """The largest ε any rule of the family certifies per example (negative: none survives)."""
    n_models = u.shape[1]
    if rules == "official":
        kernel, table = official_kernel, official_rule_table(n_models, delta)
    else:
        kernel, table = exact_kernel, exact_rule_table(n_models, delta)
    # Rows are sorted a block at a time: a sorted copy of the whole matrix would cost more in
    # fresh memory pages (a new process's first call) than the sorting itself.
    rows = max(1, SORT_BLOCK_VALUES // n_models)
    best = np.empty(u.shape[0])
    for start in range(0, u.shape[0], rows):
        block = slice(start, start + rows)
        best[block] = kernel(
            np.sort(u[block], axis=1), np.sort(r[block], axis=1), table, ~degenerate[block]
        )
    return best
