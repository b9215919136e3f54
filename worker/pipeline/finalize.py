"""The pure finalize step: from model outputs to a typed result, φ → ε → F → score, all through
the scoring library (no database, queue or storage: rescoring, benches and ``arena
score-local`` call it as the scoring job does)."""

from __future__ import annotations

import math

import numpy as np

import scoring
from core.competition_config import ScoringConfig
from core.results import (
    Accuracy,
    Histogram,
    Parts,
    PartSummary,
    SecondaryMetrics,
    SubmissionResult,
)
from worker.ml.artefacts import OutputsStack
from worker.ml.training import ModelOutputs

TOP_EXAMPLES = 10


def _bucket_counts(finite: np.ndarray, edges: list[float], limit: int) -> list[int]:
    below = finite[finite < limit]
    idx = np.floor(below / 0.5).astype(int)
    counts = np.bincount(idx, minlength=len(edges) - 1)[: len(edges) - 1].tolist()
    counts.append(int(np.sum(finite >= limit)))
    return [int(c) for c in counts]


def secondary_metrics(
    unlearned: OutputsStack,
    retrained: OutputsStack,
    forget_labels: np.ndarray,
    original: ModelOutputs | None,
) -> SecondaryMetrics:
    """MIA (with the references' as target), avg gap, RF-JSD and JSD to retrained
    (docs/scoring.md, secondary metrics)."""
    mia_u = float(
        np.mean(
            [
                scoring.mia_accuracy(f, t)
                for f, t in zip(unlearned.forget_loss, unlearned.test_loss, strict=True)
            ]
        )
    )
    mia_r = float(
        np.mean(
            [
                scoring.mia_accuracy(f, t)
                for f, t in zip(retrained.forget_loss, retrained.test_loss, strict=True)
            ]
        )
    )

    def accs(o: OutputsStack, mia: float) -> dict[str, float]:
        return {
            "retain": float(o.retain_acc.mean()),
            "forget": float(o.forget_acc.mean()),
            "test": float(o.test_acc.mean()),
            "mia": mia,
        }

    classes = np.unique(forget_labels)
    q_runs = unlearned.forget_class_softmax[:, classes]
    retrained_p = np.nanmean(retrained.forget_class_softmax[:, classes], axis=0)
    return SecondaryMetrics(
        mia=mia_u,
        mia_target=mia_r,
        avg_gap=scoring.average_gap(accs(unlearned, mia_u), accs(retrained, mia_r)),
        jsd_to_retrained_x1e4=scale_jsd(retrained_p, q_runs),
        rf_jsd_x1e4=None
        if original is None
        else scale_jsd(original.test_class_softmax[classes], q_runs),
        jsd_form="textbook: ½KL(P‖M) + ½KL(Q‖M), natural log, ×10⁴",
    )


def scale_jsd(p: np.ndarray, q_runs: np.ndarray) -> float | None:
    """Mean over runs of JSD(P, Q_run) × 10⁴, over the classes present in both."""
    values = []
    for q in q_runs:
        ok = ~(np.isnan(p).any(axis=1) | np.isnan(q).any(axis=1))
        if ok.any():
            values.append(scoring.jensen_shannon(p[ok], q[ok]))
    return float(np.mean(values) * scoring.secondary.RF_JSD_SCALE) if values else None


def part_summary(
    eps: np.ndarray, n_models: int, factor: float, resamples: int, seed: int
) -> PartSummary:
    """F, score and its interval, histogram and most distinguishable ids over some forget
    examples (``eps`` is NaN where unscorable); ids index ``eps``."""
    quality = scoring.forgetting_quality(eps, n_models) if eps.size else float("nan")
    if math.isnan(quality):
        score = float("nan")
        ci = f_ci = (float("nan"), float("nan"))
    else:
        score = quality * factor
        points = scoring.epsilon_points(eps, n_models)
        ci = scoring.bootstrap_score_interval(points, factor, n_resamples=resamples, seed=seed)
        f_ci = scoring.bootstrap_score_interval(points, 1.0, n_resamples=resamples, seed=seed)
    order = np.argsort(-np.nan_to_num(eps, nan=-1.0), kind="stable")[:TOP_EXAMPLES]
    finite = eps[~np.isnan(eps)]
    limit = scoring.max_epsilon(n_models)
    edges = [0.5 * k for k in range(2 * limit + 1)]
    return PartSummary(
        score=score,
        forgetting_quality=quality,
        score_ci=list(ci),
        forgetting_quality_ci=list(f_ci),
        n_examples=int(eps.shape[0]),
        n_unscorable=int(np.isnan(eps).sum()),
        n_models=n_models,
        epsilon_histogram=Histogram(edges=edges, counts=_bucket_counts(finite, edges, limit)),
        most_distinguishable=[int(i) for i in order],
    )


def score_outputs(
    unlearned: OutputsStack,
    retrained: OutputsStack,
    forget_labels: np.ndarray,
    cfg: ScoringConfig,
    *,
    bootstrap_seed: int = 0,
    original: ModelOutputs | None = None,
    public: np.ndarray | None = None,
) -> SubmissionResult:
    """Score N unlearned runs against N reference models (same N; docs/scoring.md).

    The top level covers every forget example; with a ``public`` mask over the forget examples,
    ``parts`` holds the same for the public and the private part (ids index the forget set).
    """
    n = len(unlearned)
    if len(retrained) != n:
        raise ValueError(f"need as many references as runs, got {len(retrained)} and {n}")
    phi_u = scoring.logit_scaled_confidence(unlearned.forget_logits, forget_labels).T
    phi_r = scoring.logit_scaled_confidence(retrained.forget_logits, forget_labels).T
    eps = scoring.per_example_epsilons(
        phi_u, phi_r, rules=cfg.rules, delta=cfg.delta, cap=cfg.epsilon_cap
    )
    ra_u, ra_r = float(unlearned.retain_acc.mean()), float(retrained.retain_acc.mean())
    ta_u, ta_r = float(unlearned.test_acc.mean()), float(retrained.test_acc.mean())
    factor = (ra_u / ra_r) * (ta_u / ta_r)
    resamples = cfg.bootstrap_resamples
    overall = part_summary(eps, n, factor, resamples, bootstrap_seed)
    if not math.isnan(overall.forgetting_quality):
        overall.score = scoring.final_score(overall.forgetting_quality, ra_u, ra_r, ta_u, ta_r)
    result = SubmissionResult(
        **overall.model_dump(),
        retain_ratio=ra_u / ra_r,
        test_ratio=ta_u / ta_r,
        interval_note="95% bootstrap over forget examples (models held fixed)",
        rules=cfg.rules,
        accuracy=Accuracy(
            retain_unlearned=ra_u,
            retain_retrained=ra_r,
            test_unlearned=ta_u,
            test_retrained=ta_r,
            forget_unlearned=float(unlearned.forget_acc.mean()),
            forget_retrained=float(retrained.forget_acc.mean()),
        ),
        epsilons=[None if math.isnan(e) else float(e) for e in eps],
        secondary=secondary_metrics(unlearned, retrained, forget_labels, original),
    )
    if public is not None:
        ids = np.arange(len(eps))
        parts = {}
        for board, mask in (("public", public), ("private", ~public)):
            part = part_summary(eps[mask], n, factor, resamples, bootstrap_seed)
            part.most_distinguishable = [int(ids[mask][i]) for i in part.most_distinguishable]
            parts[board] = part
        result.parts = Parts(**parts)
    return result
