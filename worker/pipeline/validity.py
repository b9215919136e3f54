"""The pure part of the validity report: from the reference pool's outputs and the entries'
stored numbers to a typed :class:`core.validity.ValidityReport` (no database, queue or storage;
``worker/jobs/validity.py`` gathers the inputs). Every figure comes from :mod:`scoring.validity`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

import scoring
from core.competition_config import CompetitionConfig
from core.results import ReferenceSummary
from core.splits import public_mask
from core.validity import (
    Agreement,
    Correlation,
    NullBoard,
    Planner,
    PlanRow,
    RankSwing,
    ValidityReport,
)
from scoring import validity as v
from worker.ml.artefacts import OutputsStack

MAX_POINTS = 500  # entries drawn in an agreement's scatter plot
SECONDARY = {
    "mia": "MIA accuracy",
    "avg_gap": "average gap",
    "rf_jsd_x1e4": "RF-JSD",
    "jsd_to_retrained_x1e4": "JSD to retrained",
}


@dataclass
class Entry:
    """One scored submission's numbers, as the report needs them."""

    submission_id: int
    label: str
    public_score: float | None = None
    private_score: float | None = None
    quality: float | None = None  # F over the whole forget set at the public N
    private_stage_quality: float | None = None  # staged N: F at the private N
    other_rules_quality: float | None = None  # F under the other rule family
    run_seconds_median: float | None = None
    secondary: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Inputs:
    config: CompetitionConfig
    refs: OutputsStack
    forget_labels: np.ndarray
    references: ReferenceSummary
    entries: Sequence[Entry]
    reference_seconds: float | None = None
    closed: bool = False


def build_report(inputs: Inputs, trigger: str) -> ValidityReport:
    start = time.perf_counter()
    cfg = inputs.config
    phi = scoring.logit_scaled_confidence(inputs.refs.forget_logits, inputs.forget_labels).T
    public = public_mask(len(inputs.forget_labels), cfg.leaderboard.public_fraction, cfg.seed)
    nulls = [
        null_board(inputs, phi[public], "public", cfg.scoring.n_public),
        null_board(inputs, phi[~public], "private", cfg.scoring.n_references),
    ]
    report = ValidityReport(
        computed_at=datetime.now(UTC),
        trigger=trigger,
        seconds=0.0,
        rules=cfg.scoring.rules,
        nulls=[n for n in nulls if n is not None],
        planner=planner(inputs, phi[~public]),
        agreements=agreements(inputs),
        correlations=correlations(inputs),
    )
    for name, why in inputs.references.baseline_failures.items():
        report.notes.append(f"Baseline {name} was not scored: {why}")
    if len(phi[0]) < 4:
        report.notes.append("The reference pool is too small for a null distribution (N < 4).")
    report.seconds = time.perf_counter() - start
    return report


def null_board(inputs: Inputs, phi: np.ndarray, board: str, n_board: int) -> NullBoard | None:
    """F of retrain vs retrain over many splits at this board's N (N/2 each when the pool is short)."""
    cfg = inputs.config
    side = min(n_board, phi.shape[1] // 2)
    if side < 2 or phi.shape[0] == 0:
        return None
    values = v.null_forgetting_quality(
        phi,
        side,
        splits=cfg.validity.null_splits,
        seed=cfg.seed,
        rules=cfg.scoring.rules,
        delta=cfg.scoring.delta,
        cap=cfg.scoring.epsilon_cap,
    )
    s = v.null_summary(values)
    row = inputs.references.retrain
    board_row = row.part(board).forgetting_quality if row is not None else None
    return NullBoard(
        board=board,
        n_models=n_board,
        n_per_side=side,
        n_examples=int(phi.shape[0]),
        splits=s.splits,
        mean=s.mean,
        sd=s.sd,
        low=s.low,
        high=s.high,
        values=[_finite(x) for x in values],
        board_row=board_row,
    )


def planner(inputs: Inputs, phi: np.ndarray) -> Planner | None:
    """The null spread at N = 4, 8, … up to half the pool, and the N each difference needs."""
    cfg = inputs.config
    top = phi.shape[1] // 2
    ns = [n for n in (4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048) if n <= top]
    if len(ns) < 2 or phi.shape[0] == 0:
        return None
    sd_by_n = {}
    for n in ns:
        values = v.null_forgetting_quality(
            phi, n, splits=cfg.validity.null_splits, seed=cfg.seed + n, rules=cfg.scoring.rules
        )
        sd_by_n[n] = v.null_summary(values).sd
    runs = [e.run_seconds_median for e in inputs.entries if e.run_seconds_median is not None]
    run_med = float(np.median(runs)) if runs else None
    ref_sec = inputs.reference_seconds
    plans = [v.models_for_difference(sd_by_n, d) for d in cfg.validity.differences]
    first = plans[0]
    return Planner(
        sd_by_n={n: round(sd, 6) for n, sd in sd_by_n.items() if math.isfinite(sd)},
        exponent=first.exponent,
        scale=first.scale,
        power=first.power,
        alpha=first.alpha,
        run_seconds_median=run_med,
        reference_seconds=ref_sec,
        rows=[
            PlanRow(
                difference=p.difference,
                n_models=p.n_models,
                submission_device_seconds=_times(p.n_models, run_med),
                preparation_device_seconds=_times(p.n_models, ref_sec),
            )
            for p in plans
        ],
    )


def agreements(inputs: Inputs) -> list[Agreement]:
    """Public vs private board, public vs private N for the final picks, official vs exact."""
    cfg = inputs.config
    other = "exact" if cfg.scoring.rules == "official" else "official"
    specs: list[tuple[str, str, str, str, Callable[[Entry], tuple[float | None, float | None]]]] = [
        ("boards", "Public and private boards", "public", "private",
         lambda e: (e.public_score, e.private_score)),
        ("rules", f"{cfg.scoring.rules} and {other} rules (F, whole forget set)",
         cfg.scoring.rules, other, lambda e: (e.quality, e.other_rules_quality)),
    ]  # fmt: skip
    if cfg.scoring.staged:
        specs.insert(1, (
            "stages", "Final picks at the public and the private N (F, whole forget set)",
            f"N = {cfg.scoring.n_public}", f"N = {cfg.scoring.n_references}",
            lambda e: (e.quality, e.private_stage_quality),
        ))  # fmt: skip
    out = []
    for key, title, a_label, b_label, pick in specs:
        out.append(agreement(inputs, key, title, a_label, b_label, pick))
    return out


def agreement(
    inputs: Inputs,
    key: str,
    title: str,
    a_label: str,
    b_label: str,
    pick: Callable[[Entry], tuple[float | None, float | None]],
) -> Agreement:
    found = Agreement(key=key, title=title, a_label=a_label, b_label=b_label)
    if not inputs.closed:
        found.note = "computed at the close"
        return found
    pairs = [pick(e) for e in inputs.entries]
    a = np.array([_nan(x) for x, _ in pairs])
    b = np.array([_nan(y) for _, y in pairs])
    both = np.isfinite(a) & np.isfinite(b)
    found.n_entries = int(both.sum())
    if found.n_entries < 3:
        found.note = f"{found.n_entries} entries scored both ways; at least 3 are needed"
        return found
    tau, low, high = v.kendall_tau_interval(a, b, seed=inputs.config.seed)
    found.tau, found.low, found.high = _finite(tau), _finite(low), _finite(high)
    found.swings = [
        RankSwing(
            submission_id=inputs.entries[i].submission_id,
            label=inputs.entries[i].label,
            rank_a=ra,
            rank_b=rb,
        )
        for i, ra, rb in v.rank_swings(a, b)
    ]
    idx = np.flatnonzero(both)
    ra, rb = v.ranks(a[idx]), v.ranks(b[idx])
    found.points = [(int(x), int(y)) for x, y in zip(ra, rb, strict=True)][:MAX_POINTS]
    return found


def correlations(inputs: Inputs) -> list[Correlation]:
    """Each secondary metric's rank correlation with F and with JSD to retrained, over the
    entries and the reference rows (retrain, do nothing)."""
    rows = [(e.quality, e.secondary) for e in inputs.entries]
    for ref in inputs.references.rows():
        sec = ref.secondary.model_dump() if ref.secondary is not None else {}
        rows.append((ref.forgetting_quality, sec))
    quality = np.array([_nan(q) for q, _ in rows])
    jsd = np.array([_nan(s.get("jsd_to_retrained_x1e4")) for _, s in rows])
    out = []
    for key, name in SECONDARY.items():
        values = np.array([_nan(s.get(key)) for _, s in rows])
        for against, ref_values in (("F", quality), ("JSD to retrained", jsd)):
            if key == "jsd_to_retrained_x1e4" and against == "JSD to retrained":
                continue
            rho, n = v.rank_correlation(values, ref_values)
            out.append(Correlation(metric=name, against=against, rho=_finite(rho), n=n))
    return out


def _times(n: int | None, seconds: float | None) -> float | None:
    return None if n is None or seconds is None else n * seconds


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)
