"""Rescoring: recompute every scored submission of a competition from its stored per-run
outputs (no participant code runs), after the organizer changed scoring settings.

The API bumps the competition's ``scoring_version`` and queues this job; each result records
the version, settings and code version it came from, and the leaderboard shows the current one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from core import state
from core.competition_config import CompetitionConfig
from core.db import session_scope
from core.jsonsafe import json_safe
from core.models import (
    AuditEntry,
    Competition,
    PrivateStage,
    Run,
    Submission,
    SubmissionStatus,
)
from core.results import load_references, load_result
from core.settings import Settings
from core.storage import Storage
from worker.jobs.baselines import rescore_baselines
from worker.jobs.finish import store_result
from worker.jobs.validity import run_validity
from worker.ml import artefacts
from worker.ml.preparation import summarize_references
from worker.ml.problem import build_problem
from worker.pipeline.stage import SubmissionFailed
from worker.pipeline.stored_runs import StoredRuns, data_file_for, staged_result

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Rescoring:
    """What every submission of one rescoring is scored against."""

    config: CompetitionConfig
    slug: str
    version: int
    storage: Storage
    refs: artefacts.OutputsStack
    labels: np.ndarray


def run_rescoring(competition_id: int, settings: Settings) -> None:
    storage = Storage(settings)
    with session_scope() as s:
        comp = s.get(Competition, competition_id)
        if comp is None:
            return
        config = comp.working_config
        version, slug = comp.scoring_version, comp.slug
        kept_baselines = (comp.reference_summary or {}).get("baselines") or {}
        ids = s.scalars(
            select(Submission.id).where(
                Submission.competition_id == competition_id,
                Submission.status == SubmissionStatus.SCORED,
            )
        ).all()
    comp_dir = storage.competition_dir(slug)
    problem = build_problem(config, data_file_for(config, slug, storage))
    refs = artefacts.load_stack(storage.pull(comp_dir / artefacts.REFERENCES))
    original = artefacts.load_outputs(storage.pull(comp_dir / artefacts.ORIGINAL_OUTPUTS))
    summary = summarize_references(config, problem, original, refs)
    job = _Rescoring(config, slug, version, storage, refs, problem.forget.y.numpy())
    outcomes = [_rescore_one(job, sid) for sid in ids]
    baselines = rescore_baselines(config, storage, refs, job.labels, original, kept_baselines)
    done, failed = outcomes.count(True), outcomes.count(False)
    with session_scope() as s:
        comp = s.get(Competition, competition_id)
        before = load_references(comp.reference_summary)
        stored_before = comp.reference_summary or {}
        comp.reference_summary = json_safe(
            {
                **summary,
                "timing_samples": before.timing_samples,
                "baselines": baselines,
                "baseline_failures": stored_before.get("baseline_failures") or {},
                "baseline_device_seconds": stored_before.get("baseline_device_seconds") or 0.0,
            }
        )
        s.add(
            AuditEntry(
                competition_id=competition_id,
                action="rescoring_finished",
                detail={"scoring_version": version, "rescored": done, "failed": failed},
            )
        )
    run_validity(competition_id, settings, "rescoring")


def _rescore_one(job: _Rescoring, sid: int) -> bool | None:
    """Rescore one submission from its stored outputs: True when rescored, False when it
    failed (no longer scorable, or its outputs are gone), None when there was nothing to do."""
    with session_scope() as s:
        sub = s.get(Submission, sid)
        if sub is None or sub.status != SubmissionStatus.SCORED:
            return None
        if sub.scoring_version == job.version:
            return None  # a redelivered job: already rescored
        runs = [
            (r.index, r.status, r.seconds)
            for r in s.scalars(select(Run).where(Run.submission_id == sid).order_by(Run.index))
        ]
        budget = float(load_result(sub.result).budget_seconds or 0.0)
        with_private = sub.private_stage == PrivateStage.SCORED
    try:
        stored = StoredRuns(
            job.config, sid, job.slug, job.storage, job.refs, job.labels, runs, budget
        )
        result = staged_result(stored, with_private=with_private)
    except SubmissionFailed as failure:
        with session_scope() as s:
            state.fail_submission(
                s,
                sid,
                failure.reason,
                f"On rescoring (version {job.version}): {failure.message}",
                counts=failure.counts,
                frm=[SubmissionStatus.SCORED],
                scoring_version=job.version,
            )
        return False
    except FileNotFoundError:
        log.exception("submission %s has no stored outputs to rescore", sid)
        return False
    with session_scope() as s:
        store_result(s.get(Submission, sid), result, job.version)
    return True
