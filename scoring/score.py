"""The final score: forgetting quality times the two utility ratios (docs/scoring.md §5)."""

from __future__ import annotations

import math


def final_score(
    forgetting_quality: float,
    retain_acc_unlearned: float,
    retain_acc_retrained: float,
    test_acc_unlearned: float,
    test_acc_retrained: float,
) -> float:
    """``F × (RA_U / RA_R) × (TA_U / TA_R)``, not capped (as in 2023).

    Accuracies are means over models, in any one unit (fractions or percent).

    Examples
    --------
    >>> final_score(0.5, 0.9, 1.0, 0.8, 0.8)
    0.45
    """
    for name, value in (
        ("retain_acc_retrained", retain_acc_retrained),
        ("test_acc_retrained", test_acc_retrained),
    ):
        if not value > 0:
            raise ValueError(f"parameter '{name}' of final_score must be > 0, got {value!r}")
    for name, value in (
        ("retain_acc_unlearned", retain_acc_unlearned),
        ("test_acc_unlearned", test_acc_unlearned),
    ):
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(
                f"parameter '{name}' of final_score must be finite and >= 0, got {value!r}"
            )
    return float(
        forgetting_quality
        * (retain_acc_unlearned / retain_acc_retrained)
        * (test_acc_unlearned / test_acc_retrained)
    )
