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
    examples: np.ndarray | None = None,
) -> SecondaryMetrics:
    """MIA (with the references' as target), avg gap, RF-JSD and JSD to retrained
    (docs/scoring.md, secondary metrics), over every forget example or, with ``examples`` (a
    mask over the forget set), over those only: nothing of the other forget examples enters
    (their losses, predictions and softmax); the retain and test sets are the whole ones."""
    forget_u = _Forget(unlearned, forget_labels, examples)
    forget_r = _Forget(retrained, forget_labels, examples)
    mia_u = _mia(forget_u.loss, unlearned.test_loss)
    mia_r = _mia(forget_r.loss, retrained.test_loss)

    def accs(o: OutputsStack, forget_acc: np.ndarray, mia: float) -> dict[str, float]:
        return {
            "retain": float(o.retain_acc.mean()),
            "forget": float(forget_acc.mean()),
            "test": float(o.test_acc.mean()),
            "mia": mia,
        }

    classes = np.unique(forget_u.labels)
    q_runs = forget_u.class_softmax(classes)
    retrained_p = np.nanmean(forget_r.class_softmax(classes), axis=0)
    gap = None
    if mia_u is not None and mia_r is not None:
        gap = scoring.average_gap(
            accs(unlearned, forget_u.acc, mia_u), accs(retrained, forget_r.acc, mia_r)
        )
    return SecondaryMetrics(
        mia=mia_u,
        mia_target=mia_r,
        avg_gap=gap,
        jsd_to_retrained_x1e4=scale_jsd(retrained_p, q_runs),
        rf_jsd_x1e4=None
        if original is None
        else scale_jsd(original.test_class_softmax[classes], q_runs),
        jsd_form="textbook: ½KL(P‖M) + ½KL(Q‖M), natural log, ×10⁴",
    )


def _mia(forget_loss: np.ndarray, test_loss: np.ndarray) -> float | None:
    """The MIA accuracy averaged over models; none over fewer examples than its folds."""
    if min(forget_loss.shape[1], test_loss.shape[1]) < 5:
        return None
    return float(
        np.mean([scoring.mia_accuracy(f, t) for f, t in zip(forget_loss, test_loss, strict=True)])
    )


class _Forget:
    """What the forget-set figures read of one stack, over some forget examples."""

    def __init__(self, o: OutputsStack, labels: np.ndarray, examples: np.ndarray | None):
        self.outputs, self.examples = o, examples
        self.labels = labels if examples is None else labels[examples]
        self.loss = o.forget_loss if examples is None else o.forget_loss[:, examples]
        if examples is None:  # the stored per-model accuracy, as evaluated
            self.acc = np.asarray(o.forget_acc, float)
        else:
            logits = o.forget_logits[:, examples]
            self.acc = (logits.argmax(axis=-1) == self.labels[None, :]).mean(axis=1)

    def class_softmax(self, classes: np.ndarray) -> np.ndarray:
        """(models, classes, C): each model's mean softmax over these examples of each class."""
        if self.examples is None:
            return self.outputs.forget_class_softmax[:, classes]
        logits = self.outputs.forget_logits[:, self.examples]
        return np.stack([scoring.class_mean_softmax(z, self.labels, classes) for z in logits])


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
    accuracy = Accuracy(
        retain_unlearned=ra_u,
        retain_retrained=ra_r,
        test_unlearned=ta_u,
        test_retrained=ta_r,
        forget_unlearned=float(unlearned.forget_acc.mean()),
        forget_retrained=float(retrained.forget_acc.mean()),
    )
    result = SubmissionResult(
        **overall.model_dump(exclude=PART_FIGURES),
        retain_ratio=ra_u / ra_r,
        test_ratio=ta_u / ta_r,
        interval_note="95% bootstrap over forget examples (models held fixed)",
        rules=cfg.rules,
        accuracy=accuracy,
        epsilons=[None if math.isnan(e) else float(e) for e in eps],
        secondary=secondary_metrics(unlearned, retrained, forget_labels, original),
    )
    if public is not None:
        ids = np.arange(len(eps))
        parts = {}
        for board, mask in (("public", public), ("private", ~public)):
            part = part_summary(eps[mask], n, factor, resamples, bootstrap_seed)
            part.most_distinguishable = [int(ids[mask][i]) for i in part.most_distinguishable]
            if mask.any():
                add_part_figures(part, unlearned, retrained, forget_labels, original, mask, result)
            parts[board] = part
        result.parts = Parts(**parts)
    return result


# what a part holds beside its score: its own accuracy ratios, accuracies and secondary metrics
PART_FIGURES = {"retain_ratio", "test_ratio", "accuracy", "secondary", "n_test"}


def add_part_figures(
    part: PartSummary,
    unlearned: OutputsStack,
    retrained: OutputsStack,
    forget_labels: np.ndarray,
    original: ModelOutputs | None,
    examples: np.ndarray,
    whole: SubmissionResult,
) -> None:
    """The figures shown beside ``part``'s score, over its forget examples only (``examples``, a
    mask over the forget set): the forget accuracies and the secondary metrics are computed
    again on them; the utility ratios and the retain and test accuracies are the whole
    result's (the retain and test sets are not partitioned). Before the close a participant
    reads only the public part's (docs/security.md, "Figures computed on hidden examples")."""
    forget_u = _Forget(unlearned, forget_labels, examples)
    forget_r = _Forget(retrained, forget_labels, examples)
    accuracy = whole.accuracy or Accuracy()
    part.retain_ratio, part.test_ratio = whole.retain_ratio, whole.test_ratio
    part.accuracy = accuracy.model_copy(
        update={
            "forget_unlearned": float(forget_u.acc.mean()),
            "forget_retrained": float(forget_r.acc.mean()),
        }
    )
    part.secondary = secondary_metrics(unlearned, retrained, forget_labels, original, examples)
    part.n_test = int(unlearned.test_loss.shape[1])
