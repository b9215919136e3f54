"""Secondary metrics, shown beside the score and not ranked by default (docs/scoring.md §7).

- :func:`mia_accuracy`: a membership-inference attack on per-example losses (forget vs test).
- :func:`average_gap`: mean absolute gap to the retrained models in accuracies and MIA.
- :func:`class_mean_softmax` and :func:`jensen_shannon`: the pieces of RF-JSD (LoTUS, CVPR
  2025), which needs no retrained models, and of the JSD to the retrained models.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

JSD_CLAMP = 1e-8
RF_JSD_SCALE = 1e4


def _logistic_fit_1d(
    x: np.ndarray, y: np.ndarray, iters: int = 50, l2: float = 1e-6
) -> tuple[float, float]:
    """Logistic regression on one standardised feature by Newton's method: (weight, bias)."""
    w = b = 0.0
    for _ in range(iters):
        z = np.clip(w * x + b, -30, 30)
        p = 1.0 / (1.0 + np.exp(-z))
        g_w = np.dot(p - y, x) + l2 * w
        g_b = np.sum(p - y)
        s = p * (1 - p)
        h_ww = np.dot(s, x * x) + l2
        h_wb = np.dot(s, x)
        h_bb = np.sum(s) + 1e-12
        det = h_ww * h_bb - h_wb * h_wb
        if abs(det) < 1e-18:
            break
        dw = (h_bb * g_w - h_wb * g_b) / det
        db = (h_ww * g_b - h_wb * g_w) / det
        w, b = w - dw, b - db
        if abs(dw) + abs(db) < 1e-10:
            break
    return w, b


def mia_accuracy(
    forget_loss: ArrayLike, test_loss: ArrayLike, *, folds: int = 5, seed: int = 0
) -> float:
    """Cross-validated accuracy of a logistic-regression attack telling forget from test by loss.

    Both sets are subsampled (seeded) to the size of the smaller one, so 0.5 is chance. An
    unlearned model should look like a retrained one, whose own MIA is the target.

    Parameters
    ----------
    forget_loss, test_loss : array_like of shape (n_forget,), (n_test,)
        Per-example cross-entropy losses of one model.
    folds : int, default 5
    seed : int, default 0

    Examples
    --------
    >>> mia_accuracy(np.zeros(50), np.ones(50) * 5)  # perfectly separable by loss
    1.0
    >>> rng = np.random.default_rng(0)
    >>> round(mia_accuracy(rng.normal(size=400), rng.normal(size=400)), 1)
    0.5
    """
    f = np.asarray(forget_loss, float).ravel()
    t = np.asarray(test_loss, float).ravel()
    n = min(f.size, t.size)
    if n < folds:
        raise ValueError(f"mia_accuracy needs at least {folds} examples per set, got {n}")
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.choice(f, n, replace=False), rng.choice(t, n, replace=False)])
    y = np.concatenate([np.ones(n), np.zeros(n)])
    order = rng.permutation(2 * n)
    x, y = x[order], y[order]
    correct = 0
    for k in range(folds):
        test_idx = np.arange(k, 2 * n, folds)
        train = np.ones(2 * n, bool)
        train[test_idx] = False
        mu, sd = x[train].mean(), x[train].std() or 1.0
        w, b = _logistic_fit_1d((x[train] - mu) / sd, y[train])
        pred = (w * (x[test_idx] - mu) / sd + b) > 0
        correct += int(np.sum(pred == (y[test_idx] == 1)))
    return correct / (2 * n)


def average_gap(unlearned: dict[str, float], retrained: dict[str, float]) -> float:
    """Mean absolute difference of the shared metrics (e.g. retain/forget/test accuracy, MIA).

    Examples
    --------
    >>> round(average_gap({"retain": 0.9, "test": 0.8}, {"retain": 1.0, "test": 0.8}), 6)
    0.05
    """
    keys = sorted(set(unlearned) & set(retrained))
    if not keys:
        raise ValueError("average_gap needs at least one metric present in both dicts")
    return float(np.mean([abs(unlearned[k] - retrained[k]) for k in keys]))


def class_mean_softmax(
    logits: ArrayLike, labels: ArrayLike, classes: ArrayLike
) -> NDArray[np.float64]:
    """Mean softmax over the examples of each class in ``classes``: shape (len(classes), C).

    A class without examples gets a row of NaN.
    """
    z = np.asarray(logits, float)
    y = np.asarray(labels)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    out = np.full((len(np.asarray(classes)), z.shape[1]), np.nan)
    for row, c in enumerate(np.asarray(classes)):
        mask = y == c
        if mask.any():
            out[row] = p[mask].mean(axis=0)
    return out


def jensen_shannon(p: ArrayLike, q: ArrayLike) -> float:
    """Jensen-Shannon divergence of two stacked distributions (textbook form, natural log).

    Both matrices are clamped to [1e-8, 1] and each normalised to sum 1 as a whole, then
    ``JSD = ½ KL(P‖M) + ½ KL(Q‖M)`` with ``M = ½ (P + Q)``. (LoTUS's code uses KL(M‖P); this
    is the textbook form.) Multiply by 1e4 for the RF-JSD figure LoTUS reports.

    Examples
    --------
    >>> jensen_shannon([[0.2, 0.8]], [[0.2, 0.8]])
    0.0
    >>> round(jensen_shannon([[1.0, 0.0]], [[0.0, 1.0]]), 4) == round(float(np.log(2)), 4)
    True
    """
    a = np.clip(np.asarray(p, float), JSD_CLAMP, 1.0)
    b = np.clip(np.asarray(q, float), JSD_CLAMP, 1.0)
    if a.shape != b.shape:
        raise ValueError(f"jensen_shannon needs matrices of one shape, got {a.shape} and {b.shape}")
    a = a / a.sum()
    b = b / b.sum()
    m = 0.5 * (a + b)
    return float(max(0.0, 0.5 * np.sum(a * np.log(a / m)) + 0.5 * np.sum(b * np.log(b / m))))
