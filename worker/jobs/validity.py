"""The validity report job: gather a competition's reference pool and its entries' numbers, build
the report (:mod:`worker.pipeline.validity`) and store it on the competition.

Run inline at the end of a preparation and of a rescoring, and queued at the close, when the
last private stage of the final picks is done, and when an organizer asks for it. A report that
fails is logged and leaves the last one in place: it never fails the work that triggered it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

import scoring
from core.competition_config import CompetitionConfig
from core.db import session_scope
from core.models import (
    AuditEntry,
    Competition,
    CompetitionStatus,
    Run,
    Submission,
    SubmissionStatus,
)
from core.phases import effective_status
from core.results import load_references, load_result
from core.settings import Settings
from core.storage import Storage
from core.validity import ValidityReport
from worker.ml import artefacts
from worker.pipeline.stage import SubmissionFailed
from worker.pipeline.stored_runs import RunRow, StoredRuns, load_forget_labels, used_outputs
from worker.pipeline.validity import Entry, Inputs, build_report

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredRunsArgs:
    """What loading one entry's stored runs needs beyond the competition's."""

    runs: list[RunRow]
    budget: float


#: Entries (best public scores first) rescored under the other rule family at the close.
MAX_RESCORED = 200


def run_validity(
    competition_id: int,
    settings: Settings,
    trigger: str,
    references: dict[str, Any] | None = None,
) -> float | None:
    """Compute and store the report; its seconds, or None when there was nothing to report.
    ``references``: the reference summary when it is not stored yet (end of a preparation)."""
    start = time.perf_counter()
    try:
        report = _build(competition_id, settings, trigger, references)
    except Exception:
        log.exception("the validity report of competition %s failed", competition_id)
        return None
    if report is None:
        return None
    report.seconds = time.perf_counter() - start
    with session_scope() as s:
        comp = s.get(Competition, competition_id)
        if comp is None:
            return None
        comp.validity = report.stored()
        s.add(
            AuditEntry(
                competition_id=competition_id,
                action="validity_report",
                detail={"trigger": trigger, "seconds": round(report.seconds, 3)},
            )
        )
    return report.seconds


def _build(
    competition_id: int, settings: Settings, trigger: str, summary: dict[str, Any] | None
) -> ValidityReport | None:
    storage = Storage(settings)
    with session_scope() as s:
        comp = s.get(Competition, competition_id)
        summary = summary or (comp.reference_summary if comp is not None else None)
        if comp is None or not summary:
            return None
        config = comp.working_config
        references = load_references(summary)
        closed = (
            effective_status(comp, config) == CompetitionStatus.CLOSED
        )  # or its last phase ended
        n_refs = config.scoring.n_references
        device = (comp.preparation_device_seconds or 0.0) - references.baseline_device_seconds
        reference_seconds = device / n_refs if device > 0 else None
        entries = _entries(s, competition_id, with_runs=closed)
    slug = config.slug
    refs = artefacts.load_stack(storage.pull(storage.competition_dir(slug) / artefacts.REFERENCES))
    labels = load_forget_labels(config, slug, storage)
    if closed:
        _other_rules(config, storage, refs, labels, entries)
    inputs = Inputs(
        config=config,
        refs=refs,
        forget_labels=labels,
        references=references,
        entries=[e for e, _ in entries],
        reference_seconds=reference_seconds,
        closed=closed,
    )
    return build_report(inputs, trigger)


def _entries(
    s: Session, competition_id: int, *, with_runs: bool
) -> list[tuple[Entry, StoredRunsArgs]]:
    """Every scored submission's numbers; its runs too when they will be rescored (close)."""
    subs = s.scalars(
        select(Submission).where(
            Submission.competition_id == competition_id,
            Submission.status == SubmissionStatus.SCORED,
        )
    ).all()
    out = []
    for sub in subs:
        result = load_result(sub.result)
        stage = result.private_stage
        runs = (
            [
                (r.index, r.status, r.seconds)
                for r in s.scalars(
                    select(Run).where(Run.submission_id == sub.id).order_by(Run.index)
                )
            ]
            if with_runs
            else []
        )
        entry = Entry(
            submission_id=sub.id,
            label=f"#{sub.id}" + (f" {sub.method_name}" if sub.method_name else ""),
            public_score=result.parts.public.score,
            private_score=result.parts.private.score,
            quality=result.forgetting_quality,
            private_stage_quality=stage.forgetting_quality if stage is not None else None,
            run_seconds_median=result.run_seconds_median,
            secondary=result.secondary.model_dump() if result.secondary else {},
        )
        out.append((entry, StoredRunsArgs(runs, float(result.budget_seconds or 0.0))))
    return out


def _other_rules(
    config: CompetitionConfig,
    storage: Storage,
    refs: artefacts.OutputsStack,
    labels: np.ndarray,
    entries: list[tuple[Entry, StoredRunsArgs]],
) -> None:
    """F under the other rule family from each entry's stored outputs (best public first)."""
    cfg = config.scoring
    other = "exact" if cfg.rules == "official" else "official"
    ranked = sorted(entries, key=lambda pair: -(pair[0].public_score or -1.0))
    for entry, args in ranked[:MAX_RESCORED]:
        stored = StoredRuns(
            config, entry.submission_id, config.slug, storage, refs, labels, args.runs, args.budget
        )
        try:
            unlearned = used_outputs(stored, cfg.n_public)
        except (SubmissionFailed, FileNotFoundError):
            continue  # outputs gone (retention) or no longer scorable: left out of the figure
        n = len(unlearned)
        phi_u = scoring.logit_scaled_confidence(unlearned.forget_logits, labels).T
        phi_r = scoring.logit_scaled_confidence(refs.head(n).forget_logits, labels).T
        eps = scoring.per_example_epsilons(
            phi_u, phi_r, rules=other, delta=cfg.delta, cap=cfg.epsilon_cap
        )
        entry.other_rules_quality = scoring.forgetting_quality(eps, n)
