"""From stored model outputs to a score: φ → ε → F → score, all through the scoring library."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import scoring
from server.competition_config import ScoringConfig
from worker.artefacts import OutputsStack

TOP_EXAMPLES = 10


def _bucket_counts(finite: np.ndarray, edges: list[float], limit: int) -> list[int]:
    below = finite[finite < limit]
    idx = np.floor(below / 0.5).astype(int)
    counts = np.bincount(idx, minlength=len(edges) - 1)[: len(edges) - 1].tolist()
    counts.append(int(np.sum(finite >= limit)))
    return [int(c) for c in counts]


def score_outputs(
    unlearned: OutputsStack,
    retrained: OutputsStack,
    forget_labels: np.ndarray,
    cfg: ScoringConfig,
    *,
    bootstrap_seed: int = 0,
) -> dict[str, Any]:
    """Score N unlearned runs against N reference models (same N, SCORING.md §3–§6)."""
    n = len(unlearned)
    if len(retrained) != n:
        raise ValueError(f"need as many references as runs, got {len(retrained)} and {n}")
    phi_u = scoring.logit_scaled_confidence(unlearned.forget_logits, forget_labels).T
    phi_r = scoring.logit_scaled_confidence(retrained.forget_logits, forget_labels).T
    eps = scoring.per_example_epsilons(
        phi_u, phi_r, rules=cfg.rules, delta=cfg.delta, cap=cfg.epsilon_cap
    )
    quality = scoring.forgetting_quality(eps, n)
    ra_u, ra_r = float(unlearned.retain_acc.mean()), float(retrained.retain_acc.mean())
    ta_u, ta_r = float(unlearned.test_acc.mean()), float(retrained.test_acc.mean())
    unscorable = int(np.isnan(eps).sum())
    if math.isnan(quality):
        score = float("nan")
        ci = (float("nan"), float("nan"))
    else:
        score = scoring.final_score(quality, ra_u, ra_r, ta_u, ta_r)
        factor = (ra_u / ra_r) * (ta_u / ta_r)
        ci = scoring.bootstrap_score_interval(
            scoring.epsilon_points(eps, n),
            factor,
            n_resamples=cfg.bootstrap_resamples,
            seed=bootstrap_seed,
        )
    order = np.argsort(-np.nan_to_num(eps, nan=-1.0), kind="stable")[:TOP_EXAMPLES]
    finite = eps[~np.isnan(eps)]
    limit = scoring.max_epsilon(n)
    edges = [0.5 * k for k in range(2 * limit + 1)]
    return {
        "score": score,
        "forgetting_quality": quality,
        "retain_ratio": ra_u / ra_r,
        "test_ratio": ta_u / ta_r,
        "score_ci": list(ci),
        "n_models": n,
        "n_examples": int(eps.shape[0]),
        "n_unscorable": unscorable,
        "rules": cfg.rules,
        "accuracy": {
            "retain_unlearned": ra_u,
            "retain_retrained": ra_r,
            "test_unlearned": ta_u,
            "test_retrained": ta_r,
            "forget_unlearned": float(unlearned.forget_acc.mean()),
            "forget_retrained": float(retrained.forget_acc.mean()),
        },
        "epsilon_histogram": {"edges": edges, "counts": _bucket_counts(finite, edges, limit)},
        "most_distinguishable": [int(i) for i in order],
        "epsilons": [None if math.isnan(e) else float(e) for e in eps],
    }
