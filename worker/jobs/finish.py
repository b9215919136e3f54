"""The last step of a scoring stage: ε and the score from the stored runs, once every chunk
has reported, stored with the stage's status change (one conditional update)."""

from __future__ import annotations

import logging
import shutil
from typing import Any

from sqlalchemy import select

from core import state
from core.db import session_scope
from core.logs import bound
from core.models import CompetitionBudget, Run, Submission
from core.results import SubmissionResult
from core.settings import Settings
from core.storage import Storage
from worker.liveness import beating
from worker.ml import artefacts
from worker.pipeline.picks import private_stage_ended
from worker.pipeline.stage import (
    Context,
    SubmissionFailed,
    fail,
    infrastructure_failure,
    running_context,
)
from worker.pipeline.stored_runs import StoredRuns, load_forget_labels, staged_result

log = logging.getLogger(__name__)


def finalize(submission_id: int, settings: Settings) -> None:
    """Score the stage being worked on and store it; a failure ends the stage."""
    ctx = running_context(submission_id)
    if ctx is None:
        return
    storage = Storage(settings)
    try:
        with (
            bound(submission_id=submission_id, competition_id=ctx.competition_id),
            beating(Submission, submission_id, settings.heartbeat_seconds),
        ):
            result = _final_result(ctx, storage)
            log.info("scored (%s stage): %.4f", ctx.stage, result.part(ctx.stage).score)
    except SubmissionFailed as failure:
        fail(ctx, failure)
        return
    except Exception:
        log.exception("scoring submission %s failed", submission_id)
        fail(ctx, infrastructure_failure())
        return
    finally:
        shutil.rmtree(storage.submission_dir(submission_id) / "work", ignore_errors=True)
    columns = result_columns(result, ctx.scoring_version)
    with session_scope() as s:  # cancelled meanwhile, or finished by another: no change
        if ctx.stage == "private":
            state.finish_private_stage(s, submission_id, **columns)
        else:
            state.finish_submission(s, submission_id, **columns)
    if ctx.stage == "private":
        private_stage_ended(ctx.competition_id)


def result_columns(result: SubmissionResult, scoring_version: int) -> dict[str, Any]:
    """A result and its public-board numbers in the columns the leaderboard sorts by."""
    public, private = result.parts.public, result.parts.private
    return {
        "score": public.score,
        "forgetting_quality": public.forgetting_quality,
        "retain_ratio": result.retain_ratio,
        "test_ratio": result.test_ratio,
        "score_ci_low": public.score_ci[0],
        "score_ci_high": public.score_ci[1],
        "private_score": private.score,
        "private_score_ci_low": private.score_ci[0],
        "private_score_ci_high": private.score_ci[1],
        "n_models": result.n_models,
        "scoring_version": scoring_version,
        "result": result.stored(),
    }


def store_result(sub: Submission, result: SubmissionResult, scoring_version: int) -> None:
    """Write a (re)computed result onto a loaded submission; its status is not touched."""
    for column, value in result_columns(result, scoring_version).items():
        setattr(sub, column, value)


def _final_result(ctx: Context, storage: Storage) -> SubmissionResult:
    with session_scope() as s:
        runs = s.scalars(
            select(Run).where(Run.submission_id == ctx.submission_id).order_by(Run.index)
        ).all()
        run_table = [(r.index, r.status, r.seconds) for r in runs]
        hw = s.scalar(select(Submission.hardware_class).where(Submission.id == ctx.submission_id))
        row = s.execute(
            select(CompetitionBudget.budget_seconds, CompetitionBudget.clock).where(
                CompetitionBudget.competition_id == ctx.competition_id,
                CompetitionBudget.hardware_class == hw,
            )
        ).first()
        budget, clock = row if row is not None else (None, None)
        if budget is None:  # runs record the budget they had
            budget = max((r.budget_seconds for r in runs), default=0.0)
    refs = artefacts.load_stack(
        storage.pull(storage.competition_dir(ctx.slug) / artefacts.REFERENCES)
    )
    labels = load_forget_labels(ctx.config, ctx.slug, storage)
    stored = StoredRuns(
        ctx.config, ctx.submission_id, ctx.slug, storage, refs, labels, run_table, float(budget),
        clock,
    )  # fmt: skip
    return staged_result(stored, with_private=ctx.stage == "private")
