"""The scoring job: claim a submission's stage and fan its runs out.

upload → queue → **claim → plan the runs in chunks → send** → chunks (``worker.jobs.chunk``:
sandboxed runs, evaluation) → finalize (``worker.jobs.finish``: ε, score, stored result).
Idempotent: a stage is claimed atomically (:mod:`core.state`), and runs already recorded for
it are not run again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from core import state
from core.competition_config import CompetitionConfig
from core.db import session_scope
from core.logs import bound
from core.models import (
    PREPARED_STATUSES,
    ChunkKind,
    Competition,
    CompetitionBudget,
    CompetitionStatus,
    FailureReason,
    Submission,
    SubmissionStatus,
    WorkerHeartbeat,
    utcnow,
)
from core.settings import Settings
from worker import hardware
from worker.jobs.chunk import run_chunk
from worker.jobs.finish import finalize
from worker.pipeline import fanout, run_records
from worker.pipeline.stage import Context, context_of, fail, infrastructure_failure
from worker.pipeline.trials import run_seed

__all__ = ["run_chunk", "run_private_stage", "run_scoring", "run_seed", "scoring_class"]

log = logging.getLogger(__name__)

NOT_PREPARED = (
    "The competition could not be prepared, so your submission was not run; it does not count "
    "against your quota. The organizers see why on their competition page."
)


def run_scoring(
    submission_id: int, settings: Settings, worker: str | None = None, *, inline: bool = False
) -> None:
    """Claim a queued submission and fan its N runs out in chunks (``execution.runs_per_chunk``)
    to the queue of its hardware class. ``inline``: run the chunks here, one after another
    (tests and single-process use); the result is the same."""
    ctx = _claim(submission_id, worker)
    if ctx is not None:
        _plan_and_dispatch(ctx, settings, worker, inline)


def run_private_stage(
    submission_id: int, settings: Settings, worker: str | None = None, *, inline: bool = False
) -> None:
    """Staged N: run a scored final pick up to the private N (its first runs are reused) and
    score it against all the references for the private board."""
    with session_scope() as s:
        if not state.claim_private_stage(s, submission_id):
            return
        sub = s.get(Submission, submission_id)
        ctx = context_of(sub, s.get(Competition, sub.competition_id), "private")
    _plan_and_dispatch(ctx, settings, worker, inline)


def _claim(submission_id: int, worker: str | None = None) -> Context | None:
    """Move a queued submission to running; None if it is not ours to score (yet)."""
    with session_scope() as s:
        sub = s.get(Submission, submission_id)
        if sub is None or sub.status != SubmissionStatus.QUEUED:
            return None
        comp = s.get(Competition, sub.competition_id)
        if comp.status == CompetitionStatus.FAILED:
            state.fail_submission(
                s,
                submission_id,
                FailureReason.INFRASTRUCTURE,
                NOT_PREPARED,
                counts=False,
                frm=[SubmissionStatus.QUEUED],
            )
            return None
        if comp.status not in PREPARED_STATUSES:
            return None  # preparation requeues the waiting submissions when it is done
        if not state.claim_submission(s, submission_id, worker):
            return None
        return context_of(sub, comp)


def _plan(ctx: Context, settings: Settings) -> list[int]:
    """The stage's chunks (its runs not recorded yet), planned on its hardware class."""
    with session_scope() as s:
        sub = s.get(Submission, ctx.submission_id)
        hw = sub.hardware_class if ctx.stage == "private" and sub.hardware_class else None
        hw = hw or scoring_class(ctx.competition_id, ctx.config, settings)
        sub.hardware_class = hw
    recorded = run_records.recorded_indices(ctx.submission_id)
    todo = [i for i in range(ctx.n_runs) if i not in recorded]
    execution = ctx.config.execution
    chunk_ids = fanout.plan(
        ChunkKind.RUNS,
        ctx.competition_id,
        ctx.submission_id,
        todo,
        execution.runs_per_chunk,
        hw,
        first=execution.fail_fast_runs if execution.fail_fast else None,
    )
    log.info(
        "%s stage starts: N = %d, %d runs to do in %d chunks on %s",
        ctx.stage,
        ctx.n_runs,
        len(todo),
        len(chunk_ids),
        hw,
    )
    return chunk_ids


def _plan_and_dispatch(ctx: Context, settings: Settings, worker: str | None, inline: bool) -> None:
    with bound(submission_id=ctx.submission_id, competition_id=ctx.competition_id):
        try:
            chunk_ids = _plan(ctx, settings)
        except Exception:
            log.exception("planning the runs of submission %s failed", ctx.submission_id)
            fail(ctx, infrastructure_failure())
            return
    if not chunk_ids:
        finalize(ctx.submission_id, settings)
    elif inline:
        for chunk_id in chunk_ids:
            run_chunk(chunk_id, settings, worker or "inline", release=False)
    elif ctx.config.execution.fail_fast:
        fanout.send(chunk_ids[:1])  # the others wait until it passed (run_chunk releases them)
    else:
        fanout.send(chunk_ids)


def scoring_class(competition_id: int, config: CompetitionConfig, settings: Settings) -> str:
    """The hardware class a submission is scored on: the competition's setting, else a class
    it was prepared on (has a budget for) that has a live worker, else the first of those."""
    if config.execution.hardware_class:
        return hardware.slug(config.execution.hardware_class)
    cutoff = utcnow() - timedelta(seconds=settings.stale_after_seconds)
    with session_scope() as s:
        classes = s.scalars(
            select(CompetitionBudget.hardware_class)
            .where(CompetitionBudget.competition_id == competition_id)
            .order_by(CompetitionBudget.id)
        ).all()
        live = set(
            s.scalars(
                select(WorkerHeartbeat.hardware_class).where(WorkerHeartbeat.last_seen >= cutoff)
            ).all()
        )
    for name in classes:
        if name in live:
            return name
    return classes[0] if classes else hardware.worker_class(settings)
