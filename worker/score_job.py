"""The scoring job: N sandboxed runs of a submission, their evaluation, ε and the score.

upload → queue → **claim → runs (sandbox) → evaluation → ε → score → stored result**.
Idempotent: a submission is claimed atomically (queued → running), and runs already recorded
for it are not run again.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sqlalchemy import select, update

from server.competition_config import CompetitionConfig
from server.db import session_scope
from server.environment import environment_summary
from server.jsonsafe import json_safe
from server.logs import bound
from server.models import (
    PREPARED_STATUSES,
    Competition,
    CompetitionStatus,
    FailureReason,
    Run,
    RunStatus,
    Submission,
    SubmissionStatus,
    utcnow,
)
from server.settings import Settings
from server.splits import public_mask
from server.storage import Storage
from server.version import code_version
from worker import artefacts, hardware
from worker.budget import ensure_budget
from worker.jail import Jail, SandboxUnavailable
from worker.liveness import beating
from worker.problem import Problem, build_problem
from worker.results import score_outputs
from worker.sandbox import RunResult
from worker.trials import jail_for, make_setup, open_runner, run_trial, runnable_code, verdict

log = logging.getLogger(__name__)

INFRASTRUCTURE_MESSAGE = (
    "An internal error of the platform stopped the scoring of this submission. It does not count "
    "against your quota; the organizers have the details. Please submit again later."
)


def run_seed(submission_id: int, index: int) -> int:
    """Seed of run ``index``: from (submission id, run index), distinct across runs."""
    digest = hashlib.sha256(f"arena-run:{submission_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class SubmissionFailed(Exception):
    def __init__(self, reason: FailureReason, message: str, counts: bool = True) -> None:
        super().__init__(message)
        self.reason, self.message, self.counts = reason, message, counts


@dataclass(frozen=True)
class Context:
    submission_id: int
    kind: str
    config: CompetitionConfig
    slug: str
    competition_id: int
    scoring_version: int


def _claim(submission_id: int, worker: str | None = None) -> Context | None:
    """Move a queued submission to running; None if it is not ours to score (yet)."""
    with session_scope() as s:
        sub = s.get(Submission, submission_id)
        if sub is None or sub.status != SubmissionStatus.QUEUED:
            return None
        comp = s.get(Competition, sub.competition_id)
        if comp.status == CompetitionStatus.FAILED:
            _set_failed(
                s,
                sub,
                FailureReason.INFRASTRUCTURE,
                "The competition could not be prepared; the organizers have been told.",
                False,
            )
            return None
        if comp.status not in PREPARED_STATUSES:
            return None  # preparation requeues the waiting submissions when it is done
        claimed = s.execute(
            update(Submission)
            .where(Submission.id == submission_id, Submission.status == SubmissionStatus.QUEUED)
            .values(
                status=SubmissionStatus.RUNNING,
                started_at=utcnow(),
                heartbeat_at=utcnow(),
                worker=(worker or "")[:255] or None,
            )
        ).rowcount
        if claimed != 1:
            return None
        return Context(
            submission_id,
            sub.kind,
            CompetitionConfig.model_validate(comp.config),
            comp.slug,
            comp.id,
            comp.scoring_version,
        )


def _set_failed(s, sub: Submission, reason: FailureReason, message: str, counts: bool) -> None:
    sub.status = SubmissionStatus.FAILED
    sub.failure_reason = reason
    sub.failure_message = message
    sub.counts_against_quota = counts
    sub.finished_at = utcnow()


def run_scoring(submission_id: int, settings: Settings, worker: str | None = None) -> None:
    ctx = _claim(submission_id, worker)
    if ctx is None:
        return
    try:
        with (
            bound(submission_id=submission_id, competition_id=ctx.competition_id),
            beating(Submission, submission_id, settings.heartbeat_seconds),
        ):
            log.info("scoring starts (N = %d, worker %s)", ctx.config.scoring.n_models, worker)
            result = _score(ctx, settings)
            log.info("scored: %.4f", result["boards"]["public"]["score"])
    except Cancelled:
        return
    except SubmissionFailed as failure:
        with session_scope() as s:
            _set_failed(
                s, s.get(Submission, submission_id), failure.reason, failure.message, failure.counts
            )
        return
    except Exception:
        log.exception("scoring submission %s failed", submission_id)
        with session_scope() as s:
            _set_failed(
                s,
                s.get(Submission, submission_id),
                FailureReason.INFRASTRUCTURE,
                INFRASTRUCTURE_MESSAGE,
                False,
            )
        return
    finally:
        shutil.rmtree(Storage(settings).submission_dir(submission_id) / "work", ignore_errors=True)
    with session_scope() as s:
        sub = s.get(Submission, submission_id)
        if sub.status != SubmissionStatus.RUNNING:
            return  # cancelled meanwhile
        store_result(sub, result, ctx.scoring_version)
        sub.status = SubmissionStatus.SCORED
        sub.finished_at = utcnow()


def store_result(sub: Submission, result: dict[str, Any], scoring_version: int) -> None:
    """Write a result's public-board numbers to the columns the leaderboard sorts by."""
    public = result["boards"]["public"]
    private = result["boards"]["private"]
    sub.score = public["score"]
    sub.forgetting_quality = public["forgetting_quality"]
    sub.retain_ratio = result["retain_ratio"]
    sub.test_ratio = result["test_ratio"]
    sub.score_ci_low, sub.score_ci_high = public["score_ci"]
    sub.private_score = private["score"]
    sub.private_score_ci_low, sub.private_score_ci_high = private["score_ci"]
    sub.n_models = result["n_models"]
    sub.scoring_version = scoring_version
    sub.result = json_safe(result)


def _score(ctx: Context, settings: Settings) -> dict[str, Any]:
    config = ctx.config
    storage = Storage(settings)
    threads = hardware.cpu_threads(settings.worker_threads)
    torch.set_num_threads(threads)
    device = hardware.device()
    hw = hardware.hardware_class(threads)
    problem = build_problem(config, data_file_for(config, ctx.slug, storage))
    budget = ensure_budget(ctx.competition_id, config, hw, problem, device)
    with session_scope() as s:
        s.get(Submission, ctx.submission_id).hardware_class = hw

    comp_dir = storage.competition_dir(ctx.slug)
    refs = artefacts.load_stack(comp_dir / artefacts.REFERENCES)
    setup = make_setup(
        config,
        problem,
        comp_dir,
        storage.submission_dir(ctx.submission_id) / "work",
        device=device,
        threads=threads,
        budget_seconds=budget,
        jail=_jail(settings),
    )
    code = runnable_code(
        storage.submission_code(ctx.submission_id, ctx.kind), setup.data_path.parent
    )
    n = config.scoring.n_models
    with open_runner(setup, code) as runner:
        for index in range(n):
            if _cancelled(ctx.submission_id):
                raise Cancelled
            out_path = storage.run_outputs(ctx.submission_id, index)
            if _already_recorded(ctx.submission_id, index) and out_path.is_file():
                continue
            seed = run_seed(ctx.submission_id, index)
            _record_run(ctx.submission_id, index, seed, budget, status=RunStatus.RUNNING)
            log_path = storage.run_log(ctx.submission_id, index)
            with bound(run=index):
                result = run_trial(setup, runner, seed, log_path, out_path)
                log.info("run %s: %s in %.2f s", index, result.outcome, result.seconds or 0.0)
            _record_run(ctx.submission_id, index, seed, budget, result=result)
            failure = verdict(result, index, n, setup)
            if failure is not None:
                raise SubmissionFailed(FailureReason(failure[0]), failure[1])

    return _final_result(ctx, storage, refs, problem, budget)


class Cancelled(Exception):
    """The submission was cancelled while it ran; its status already says so."""


def _cancelled(submission_id: int) -> bool:
    with session_scope() as s:
        return s.scalar(select(Submission.status).where(Submission.id == submission_id)) != (
            SubmissionStatus.RUNNING
        )


def data_file_for(config: CompetitionConfig, slug: str, storage: Storage):
    return storage.dataset_file(slug) if config.dataset.source == "upload" else None


def _jail(settings: Settings) -> Jail | None:
    try:
        return jail_for(settings.sandbox_user, settings.unsafe_no_sandbox)
    except SandboxUnavailable as exc:
        log.error("no sandbox on this worker: %s", exc)
        raise SubmissionFailed(
            FailureReason.INFRASTRUCTURE,
            "This worker cannot isolate participant code, so your submission was not run. It does not "
            "count against your quota; the organizers have been told.",
            counts=False,
        ) from None


def _already_recorded(submission_id: int, index: int) -> bool:
    with session_scope() as s:
        status = s.scalar(
            select(Run.status).where(Run.submission_id == submission_id, Run.index == index)
        )
    return status in (RunStatus.FINISHED, RunStatus.OVER_BUDGET)


_RUN_STATUS = {"finished": RunStatus.FINISHED, "over_budget": RunStatus.OVER_BUDGET}


def _record_run(
    submission_id: int,
    index: int,
    seed: int,
    budget: float,
    *,
    status: RunStatus | None = None,
    result: RunResult | None = None,
) -> None:
    with session_scope() as s:
        run = s.scalar(select(Run).where(Run.submission_id == submission_id, Run.index == index))
        if run is None:
            run = Run(submission_id=submission_id, index=index, seed=seed, budget_seconds=budget)
            s.add(run)
        run.budget_seconds = budget
        if result is None:
            run.status = status or RunStatus.RUNNING
            return
        run.status = _RUN_STATUS.get(result.outcome, RunStatus.FAILED)
        run.seconds = result.seconds
        run.error_message = result.message or None
        run.finished_at = utcnow()
        if run.status in (RunStatus.FINISHED, RunStatus.OVER_BUDGET):
            sub = s.get(Submission, submission_id)
            sub.runs_done = (
                s.query(Run)
                .filter(
                    Run.submission_id == submission_id,
                    Run.status.in_([RunStatus.FINISHED, RunStatus.OVER_BUDGET]),
                )
                .count()
            )


def _final_result(
    ctx: Context, storage: Storage, refs: artefacts.OutputsStack, problem: Problem, budget: float
) -> dict[str, Any]:
    with session_scope() as s:
        runs = s.scalars(
            select(Run).where(Run.submission_id == ctx.submission_id).order_by(Run.index)
        ).all()
        run_table = [(r.index, r.status, r.seconds) for r in runs]
    return score_stored_runs(
        ctx.config,
        ctx.submission_id,
        ctx.slug,
        storage,
        refs,
        problem.forget.y.numpy(),
        run_table,
        budget,
    )


def score_stored_runs(
    config: CompetitionConfig,
    submission_id: int,
    slug: str,
    storage: Storage,
    refs: artefacts.OutputsStack,
    forget_labels: np.ndarray,
    runs: list[tuple[int, str, float | None]],
    budget: float,
) -> dict[str, Any]:
    """The result of a submission from its stored per-run outputs (scoring and rescoring)."""
    cfg = config.scoring
    in_budget = [i for i, status, _ in runs if status == RunStatus.FINISHED]
    seconds = [t for _, _, t in runs if t is not None]
    used = in_budget if cfg.over_budget == "drop" else [i for i, _, _ in runs]
    used = used[: cfg.n_models]
    if len(used) < (cfg.effective_min_runs if cfg.over_budget == "drop" else cfg.n_models):
        raise SubmissionFailed(
            FailureReason.OVER_BUDGET,
            f"Only {len(in_budget)} of {cfg.n_models} runs finished within the budget of {budget:.2f} s; "
            f"at least {cfg.effective_min_runs} are needed.",
        )
    unlearned = artefacts.stack_outputs(
        [artefacts.load_outputs(storage.run_outputs(submission_id, i)) for i in used]
    )
    original = artefacts.load_outputs(storage.competition_dir(slug) / artefacts.ORIGINAL_OUTPUTS)
    public = public_mask(len(forget_labels), config.leaderboard.public_fraction, config.seed)
    result = score_outputs(
        unlearned, refs.head(len(used)), forget_labels, cfg, original=original, public=public
    )
    if result["score"] is None or not np.isfinite(result["score"]):
        raise SubmissionFailed(
            FailureReason.INVALID_OUTPUT,
            "No forget example could be scored: every decision rule was degenerate for every example.",
        )
    result["budget_seconds"] = budget
    result["environment"] = environment_summary()
    result["run_seconds_median"] = float(np.median(seconds)) if seconds else None
    result["elapsed_seconds"] = float(np.sum(seconds)) if seconds else None
    result["scoring"] = {
        "settings": cfg.model_dump(mode="json"),
        "public_fraction": config.leaderboard.public_fraction,
        "code_version": code_version(),
    }
    return result
