"""Unlearning Arena's scoring library: ε of forgetting, forgetting quality and the final score.

A pure library (numpy, numba and scipy only) that participants can import to compute locally the
numbers the platform computes::

    from scoring import logit_scaled_confidence, per_example_epsilons, forgetting_quality, final_score

    phi_u = logit_scaled_confidence(unlearned_logits, labels).T  # (n_examples, N)
    phi_r = logit_scaled_confidence(retrained_logits, labels).T
    eps = per_example_epsilons(phi_u, phi_r)
    f = forgetting_quality(eps, n_models=phi_u.shape[1])
    score = final_score(f, ra_u, ra_r, ta_u, ta_r)
"""

from scoring.bootstrap import (
    bootstrap_score_interval,
    neighbour_ties,
    paired_difference_interval,
    rank_intervals,
    statistically_tied,
)
from scoring.epsilon import (
    RULES,
    degenerate_examples,
    exact_rule_table,
    official_rule_table,
    per_example_epsilons,
)
from scoring.quality import epsilon_points, forgetting_quality, max_epsilon
from scoring.score import final_score
from scoring.secondary import (
    average_gap,
    class_mean_softmax,
    jensen_shannon,
    mia_accuracy,
)
from scoring.signal import PHI_CLIP, logit_scaled_confidence
from scoring.uncertainty import entries_tied, quality_interval

__all__ = [
    "average_gap",
    "class_mean_softmax",
    "jensen_shannon",
    "mia_accuracy",
    "PHI_CLIP",
    "RULES",
    "bootstrap_score_interval",
    "degenerate_examples",
    "entries_tied",
    "epsilon_points",
    "exact_rule_table",
    "final_score",
    "forgetting_quality",
    "logit_scaled_confidence",
    "max_epsilon",
    "official_rule_table",
    "paired_difference_interval",
    "per_example_epsilons",
    "quality_interval",
    "neighbour_ties",
    "rank_intervals",
    "statistically_tied",
]
