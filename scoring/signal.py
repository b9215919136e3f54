"""The per-example signal: logit-scaled confidence of the true class (docs/scoring.md §3)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: ``ln(1e45)``: the official code adds ``1e-45`` inside its logs, which caps φ near this value.
PHI_CLIP: float = float(np.log(1e45))


def logit_scaled_confidence(logits: ArrayLike, labels: ArrayLike) -> NDArray[np.float64]:
    """Logit-scaled confidence ``φ = log p_y − log(1 − p_y)`` of the true class.

    Computed in float64 in the stable form ``z_y − logsumexp_{k≠y} z_k`` and clipped to
    ``±ln(1e45)``, which is what the 2023 competition's ``+1e-45`` terms amount to.

    Parameters
    ----------
    logits : array_like of shape (..., n_examples, n_classes)
        Raw model outputs; leading axes (e.g. one per model) are kept.
    labels : array_like of int, shape (n_examples,)
        True class of each example.

    Returns
    -------
    numpy.ndarray of shape (..., n_examples), float64

    Examples
    --------
    >>> import numpy as np
    >>> phi = logit_scaled_confidence(np.array([[2.0, 0.0], [0.0, 0.0]]), np.array([0, 1]))
    >>> np.round(phi, 6).tolist()
    [2.0, 0.0]
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim < 2:
        raise ValueError(
            f"parameter 'logits' must have shape (..., n_examples, n_classes), got {z.shape}"
        )
    if z.shape[-1] < 2:
        raise ValueError(f"parameter 'logits' needs at least 2 classes, got {z.shape[-1]}")
    if y.ndim != 1 or y.shape[0] != z.shape[-2]:
        raise ValueError(
            f"parameter 'labels' must have shape ({z.shape[-2]},) to match 'logits', got {y.shape}"
        )
    if (
        not np.issubdtype(y.dtype, np.integer)
        or y.min(initial=0) < 0
        or y.max(initial=0) >= z.shape[-1]
    ):
        raise ValueError(
            f"parameter 'labels' must be integers in [0, {z.shape[-1]}), got {y.dtype}"
        )
    idx = np.broadcast_to(y[:, None], z.shape[:-1] + (1,))
    true_logit = np.take_along_axis(z, idx, axis=-1)[..., 0]
    others = z.copy()
    np.put_along_axis(others, idx, -np.inf, axis=-1)
    top = others.max(axis=-1, keepdims=True)
    with np.errstate(over="ignore"):
        lse_others = top[..., 0] + np.log(np.exp(others - top).sum(axis=-1))
    phi = true_logit - lse_others
    clipped: NDArray[np.float64] = np.clip(phi, -PHI_CLIP, PHI_CLIP)
    return clipped
