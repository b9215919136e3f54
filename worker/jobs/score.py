"""The scoring job: N sandboxed runs of a submission, their evaluation, ε and the score.

upload → queue → **claim → runs (sandbox) → evaluation → ε → score → stored result**.
Idempotent: a submission is claimed atomically (queued → running), and runs already recorded
for it are not run again.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
from sqlalchemy import select, update

from core.competition_config import CompetitionConfig
from core.db import session_scope
from core.environment import environment_summary
from core.jsonsafe import json_safe
from core.logs import bound
from core.models import (
    PREPARED_STATUSES,
    ChunkKind,
    ChunkStatus,
    Competition,
    CompetitionBudget,
    CompetitionStatus,
    FailureReason,
    PrivateStage,
    Run,
    RunStatus,
    Submission,
    SubmissionStatus,
    WorkChunk,
    WorkerHeartbeat,
    utcnow,
)
from core.settings import Settings
from core.splits import public_mask
from core.storage import Storage
from core.version import code_version
from worker import hardware
from worker.liveness import beating
from worker.ml import artefacts
from worker.ml.problem import build_problem
from worker.pipeline import fanout
from worker.pipeline.budget import ensure_budget
from worker.pipeline.finalize import score_outputs
from worker.pipeline.trials import (
    jail_for,
    make_setup,
    open_runner,
    run_trial,
    runnable_code,
    verdict,
)
from worker.sandbox import warm as warm_sandbox
from worker.sandbox.jail import Jail, SandboxUnavailable
from worker.sandbox.runner import RunResult

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
    stage: str = "public"  # "private": a final pick's runs up to the private N (staged N)

    @property
    def n_runs(self) -> int:
        """Runs this stage needs: N, the public N, or (private stage) the private N."""
        cfg = self.config.scoring
        return cfg.n_references if self.stage == "private" else cfg.n_public


def _context(sub: Submission, comp: Competition, stage: str = "public") -> Context:
    return Context(
        sub.id,
        sub.kind,
        CompetitionConfig.model_validate(comp.config),
        comp.slug,
        comp.id,
        comp.scoring_version,
        stage,
    )


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
                submission_id,
                FailureReason.INFRASTRUCTURE,
                "The competition could not be prepared; the organizers have been told.",
                False,
                from_status=SubmissionStatus.QUEUED,
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
        return _context(sub, comp)


def _stage_of(sub: Submission | None) -> str | None:
    """Which stage of this submission is being worked on: "public", "private" or None."""
    if sub is None:
        return None
    if sub.status == SubmissionStatus.RUNNING:
        return "public"
    if sub.status == SubmissionStatus.SCORED and sub.private_stage == PrivateStage.RUNNING:
        return "private"
    return None


def _running_context(submission_id: int) -> Context | None:
    with session_scope() as s:
        sub = s.get(Submission, submission_id)
        stage = _stage_of(sub)
        if stage is None:
            return None
        return _context(sub, s.get(Competition, sub.competition_id), stage)


def _set_failed(
    s,
    submission_id: int,
    reason: FailureReason,
    message: str,
    counts: bool,
    from_status: SubmissionStatus = SubmissionStatus.RUNNING,
) -> bool:
    """Fail the submission if it is still ``from_status`` (never overwrite a cancel or a score)."""
    return (
        s.execute(
            update(Submission)
            .where(Submission.id == submission_id, Submission.status == from_status)
            .values(
                status=SubmissionStatus.FAILED,
                failure_reason=reason,
                failure_message=message,
                counts_against_quota=counts,
                finished_at=utcnow(),
            )
        ).rowcount
        == 1
    )


def _fail(
    submission_id: int, competition_id: int, failure: SubmissionFailed, stage: str = "public"
) -> None:
    with session_scope() as s:
        if stage == "private":  # the public score stands; the private board goes without it
            s.execute(
                update(Submission)
                .where(
                    Submission.id == submission_id,
                    Submission.private_stage == PrivateStage.RUNNING,
                )
                .values(
                    private_stage=PrivateStage.FAILED,
                    private_stage_message=f"{failure.reason}: {failure.message}"[:4000],
                )
            )
        else:
            _set_failed(s, submission_id, failure.reason, failure.message, failure.counts)
    fanout.abandon(ChunkKind.RUNS, competition_id, submission_id)


def _infrastructure_failure() -> SubmissionFailed:
    return SubmissionFailed(FailureReason.INFRASTRUCTURE, INFRASTRUCTURE_MESSAGE, counts=False)


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
        claimed = s.execute(
            update(Submission)
            .where(
                Submission.id == submission_id,
                Submission.status == SubmissionStatus.SCORED,
                Submission.private_stage == PrivateStage.QUEUED,
            )
            .values(private_stage=PrivateStage.RUNNING, heartbeat_at=utcnow())
        ).rowcount
        if claimed != 1:
            return
        sub = s.get(Submission, submission_id)
        ctx = _context(sub, s.get(Competition, sub.competition_id), "private")
    _plan_and_dispatch(ctx, settings, worker, inline)


def _plan_and_dispatch(ctx: Context, settings: Settings, worker: str | None, inline: bool) -> None:
    submission_id = ctx.submission_id
    with bound(submission_id=submission_id, competition_id=ctx.competition_id):
        try:
            n = ctx.n_runs
            with session_scope() as s:
                sub = s.get(Submission, submission_id)
                hw = sub.hardware_class if ctx.stage == "private" and sub.hardware_class else None
                hw = hw or scoring_class(ctx.competition_id, ctx.config, settings)
                sub.hardware_class = hw
                recorded = set(
                    s.scalars(
                        select(Run.index).where(
                            Run.submission_id == submission_id,
                            Run.status.in_(_RECORDED),
                        )
                    ).all()
                )
            todo = [i for i in range(n) if i not in recorded]
            execution = ctx.config.execution
            chunk_ids = fanout.plan(
                ChunkKind.RUNS,
                ctx.competition_id,
                submission_id,
                todo,
                execution.runs_per_chunk,
                hw,
                first=execution.fail_fast_runs if execution.fail_fast else None,
            )
            log.info(
                "%s stage starts: N = %d, %d runs to do in %d chunks on %s",
                ctx.stage,
                n,
                len(todo),
                len(chunk_ids),
                hw,
            )
        except Exception:
            log.exception("planning the runs of submission %s failed", submission_id)
            _fail(submission_id, ctx.competition_id, _infrastructure_failure(), ctx.stage)
            return
    if not chunk_ids:
        finalize(submission_id, settings)
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


def run_chunk(
    chunk_id: int, settings: Settings, worker: str | None = None, *, release: bool = True
) -> None:
    """Run one chunk of a submission's runs; the worker that ends the last chunk scores it.
    A chunk that passes releases the chunks held back by ``execution.fail_fast``."""
    chunk = fanout.claim(chunk_id, worker)
    if chunk is None:
        return
    sid = chunk.submission_id
    ctx = _running_context(sid)
    if ctx is None:  # cancelled or failed meanwhile
        fanout.finish(chunk_id, worker, ChunkStatus.ABANDONED)
        return
    warm: warm_sandbox.WarmSandbox | None = None
    passed = False
    try:
        with (
            bound(submission_id=sid, competition_id=ctx.competition_id),
            beating(WorkChunk, chunk_id, settings.heartbeat_seconds, (Submission, sid)),
        ):
            log.info(
                "chunk %s: runs %d..%d (worker %s)", chunk_id, chunk.start, chunk.stop - 1, worker
            )
            warm = _sandbox_for(ctx, settings, chunk)
            _run_range(ctx, settings, chunk, worker, warm)
            passed = True
    except Cancelled:
        fanout.finish(chunk_id, worker, ChunkStatus.ABANDONED)
        return
    except SubmissionFailed as failure:
        fanout.finish(chunk_id, worker, ChunkStatus.FAILED)
        _fail(sid, ctx.competition_id, failure, ctx.stage)
        return
    except Exception:
        log.exception("chunk %s of submission %s failed", chunk_id, sid)
        fanout.finish(chunk_id, worker, ChunkStatus.FAILED)
        _fail(sid, ctx.competition_id, _infrastructure_failure(), ctx.stage)
        return
    finally:
        if warm is not None:  # kept for this submission's next chunk if one waits
            more = passed and fanout.unfinished(ChunkKind.RUNS, ctx.competition_id, sid) > 1
            warm_sandbox.give_back(warm, keep=more)
    if release:  # before DONE: a worker lost in between leaves a running chunk, redone
        held = fanout.release_held(ChunkKind.RUNS, ctx.competition_id, sid)
        if held:
            log.info("first chunk passed: %d more chunks released", len(held))
            fanout.send(held)
    if fanout.finish(chunk_id, worker, ChunkStatus.DONE) and (
        fanout.unfinished(ChunkKind.RUNS, ctx.competition_id, sid) == 0
    ):
        finalize(sid, settings)


def finalize(submission_id: int, settings: Settings) -> None:
    """ε and the score from the stored runs, once every chunk has reported."""
    ctx = _running_context(submission_id)
    if ctx is None:
        return
    storage = Storage(settings)
    try:
        with (
            bound(submission_id=submission_id, competition_id=ctx.competition_id),
            beating(Submission, submission_id, settings.heartbeat_seconds),
        ):
            result = _final_result(ctx, storage)
            board = "private" if ctx.stage == "private" else "public"
            log.info("scored (%s stage): %.4f", ctx.stage, result["boards"][board]["score"])
    except SubmissionFailed as failure:
        _fail(submission_id, ctx.competition_id, failure, ctx.stage)
        return
    except Exception:
        log.exception("scoring submission %s failed", submission_id)
        _fail(submission_id, ctx.competition_id, _infrastructure_failure(), ctx.stage)
        return
    finally:
        shutil.rmtree(storage.submission_dir(submission_id) / "work", ignore_errors=True)
    with session_scope() as s:
        sub = s.get(Submission, submission_id)
        if _stage_of(sub) != ctx.stage:
            return  # cancelled meanwhile, or another worker finished first
        store_result(sub, result, ctx.scoring_version)
        if ctx.stage == "private":
            sub.private_stage = PrivateStage.SCORED
            sub.private_stage_message = None
        else:
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


def _sandbox_for(ctx: Context, settings: Settings, chunk: fanout.Chunk) -> warm_sandbox.WarmSandbox:
    """This submission's sandbox and trial setup: kept from its previous chunk on this worker,
    or made now."""
    threads = hardware.cpu_threads(settings.worker_threads)
    torch.set_num_threads(threads)
    hw = hardware.worker_class(settings)
    if hw != chunk.hardware_class:
        log.warning("chunk for %s taken by a %s worker", chunk.hardware_class, hw)
    key = (ctx.submission_id, ctx.stage, hw)

    def open_new() -> warm_sandbox.WarmSandbox:
        config, storage, device = ctx.config, Storage(settings), hardware.device()
        problem = build_problem(config, data_file_for(config, ctx.slug, storage))
        budget = ensure_budget(ctx.competition_id, config, hw, problem, device)
        comp_dir = storage.competition_dir(ctx.slug)
        storage.pull(comp_dir / artefacts.ORIGINAL)
        work_dir = storage.submission_dir(ctx.submission_id) / "work" / f"chunk-{chunk.id}"
        try:
            setup = make_setup(
                config,
                problem,
                comp_dir,
                work_dir,
                device=device,
                threads=threads,
                budget_seconds=budget,
                jail=_jail(settings),
            )
            code = runnable_code(
                storage.pull(storage.submission_code(ctx.submission_id, ctx.kind)), work_dir
            )
        except BaseException:
            shutil.rmtree(work_dir, ignore_errors=True)  # nothing holds it yet
            raise
        return warm_sandbox.WarmSandbox(key, setup, open_runner(setup, code), work_dir)

    return warm_sandbox.take(key, open_new)


def _run_range(
    ctx: Context,
    settings: Settings,
    chunk: fanout.Chunk,
    worker: str | None,
    warm: warm_sandbox.WarmSandbox,
) -> None:
    storage = Storage(settings)
    setup, runner = warm.setup, warm.runner
    budget = setup.budget_seconds
    hw = hardware.worker_class(settings)
    n = ctx.n_runs
    for index in chunk.indices:
        if _cancelled(ctx.submission_id) or not fanout.still_mine(chunk.id, worker):
            raise Cancelled
        out_path = storage.run_outputs(ctx.submission_id, index)
        if _already_recorded(ctx.submission_id, index) and storage.pull(out_path).is_file():
            continue
        seed = run_seed(ctx.submission_id, index)
        _record_run(ctx.submission_id, index, seed, budget, status=RunStatus.RUNNING)
        log_path = storage.run_log(ctx.submission_id, index)
        with bound(run=index):
            started = time.perf_counter()
            result = run_trial(setup, runner, seed, log_path, out_path)
            held = time.perf_counter() - started  # sandbox, the function, evaluation
            log.info("run %s: %s in %.2f s", index, result.outcome, result.seconds or 0.0)
        storage.push(*(p for p in (out_path, log_path) if p.is_file()))  # before recording
        _record_run(ctx.submission_id, index, seed, budget, result=result, device=(hw, held))
        fanout.add_device_seconds(chunk.id, held)
        failure = verdict(result, index, n, setup)
        if failure is not None:
            raise SubmissionFailed(FailureReason(failure[0]), failure[1])


class Cancelled(Exception):
    """The submission was cancelled while it ran; its status already says so."""


def _cancelled(submission_id: int) -> bool:
    """True once the submission's stage is no longer being worked on (cancelled, failed)."""
    with session_scope() as s:
        return _stage_of(s.get(Submission, submission_id)) is None


def load_forget_labels(config: CompetitionConfig, slug: str, storage: Storage) -> np.ndarray:
    return build_problem(config, data_file_for(config, slug, storage)).forget.y.numpy()


def data_file_for(config: CompetitionConfig, slug: str, storage: Storage):
    return storage.pull(storage.dataset_file(slug)) if config.dataset.source == "upload" else None


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


_RECORDED = (RunStatus.FINISHED, RunStatus.OVER_BUDGET)


def _already_recorded(submission_id: int, index: int) -> bool:
    with session_scope() as s:
        status = s.scalar(
            select(Run.status).where(Run.submission_id == submission_id, Run.index == index)
        )
    return status in _RECORDED


_RUN_STATUS = {"finished": RunStatus.FINISHED, "over_budget": RunStatus.OVER_BUDGET}


def _record_run(
    submission_id: int,
    index: int,
    seed: int,
    budget: float,
    *,
    status: RunStatus | None = None,
    result: RunResult | None = None,
    device: tuple[str, float] | None = None,
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
        if device is not None:
            run.device, run.device_seconds = device
            s.execute(  # charged whatever the outcome: the device was held
                update(Submission)
                .where(Submission.id == submission_id)
                .values(device_seconds=Submission.device_seconds + device[1])
            )
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


def _final_result(ctx: Context, storage: Storage) -> dict[str, Any]:
    with session_scope() as s:
        runs = s.scalars(
            select(Run).where(Run.submission_id == ctx.submission_id).order_by(Run.index)
        ).all()
        run_table = [(r.index, r.status, r.seconds) for r in runs]
        hw = s.scalar(select(Submission.hardware_class).where(Submission.id == ctx.submission_id))
        budget = s.scalar(
            select(CompetitionBudget.budget_seconds).where(
                CompetitionBudget.competition_id == ctx.competition_id,
                CompetitionBudget.hardware_class == hw,
            )
        )
    if budget is None:  # runs record the budget they had
        budget = max((r.budget_seconds for r in runs), default=0.0)
    refs = artefacts.load_stack(
        storage.pull(storage.competition_dir(ctx.slug) / artefacts.REFERENCES)
    )
    labels = load_forget_labels(ctx.config, ctx.slug, storage)
    return staged_result(
        ctx.config,
        ctx.submission_id,
        ctx.slug,
        storage,
        refs,
        labels,
        run_table,
        float(budget),
        with_private=ctx.stage == "private",
    )


PRIVATE_STAGE_KEYS = (
    "score",
    "forgetting_quality",
    "score_ci",
    "forgetting_quality_ci",
    "n_models",
    "epsilons",
    "retain_ratio",
    "test_ratio",
    "accuracy",
    "secondary",
    "epsilon_histogram",
    "n_unscorable",
)


def staged_result(
    config: CompetitionConfig,
    submission_id: int,
    slug: str,
    storage: Storage,
    refs: artefacts.OutputsStack,
    forget_labels: np.ndarray,
    runs: list[tuple[int, str, float | None]],
    budget: float,
    *,
    with_private: bool,
) -> dict[str, Any]:
    """A submission's result. Plain N: both boards from its N runs. Staged N: the public board
    from runs 0..public-1 against the first ``public`` references; the private board pending,
    or (``with_private``) from all ``private`` runs against all references, its whole-forget-set
    numbers kept under ``private_stage``."""
    cfg = config.scoring
    args = (config, submission_id, slug, storage, refs, forget_labels)
    result = score_stored_runs(*args, runs, budget, n=cfg.n_public)
    if not cfg.staged:
        return result
    if not with_private:
        result["boards"]["private"] = {
            "score": None,
            "score_ci": [None, None],
            "n_models": cfg.n_references,
            "pending": "computed at the close for the final picks (staged N)",
        }
        return result
    full = score_stored_runs(*args, runs, budget, n=cfg.n_references)
    result["boards"]["private"] = full["boards"]["private"]
    result["private_stage"] = {k: full.get(k) for k in PRIVATE_STAGE_KEYS}
    return result


def score_stored_runs(
    config: CompetitionConfig,
    submission_id: int,
    slug: str,
    storage: Storage,
    refs: artefacts.OutputsStack,
    forget_labels: np.ndarray,
    runs: list[tuple[int, str, float | None]],
    budget: float,
    n: int | None = None,
) -> dict[str, Any]:
    """The result of runs 0..n-1 (default: the public N) of a submission from their stored
    outputs, against the first n references (scoring and rescoring)."""
    cfg = config.scoring
    n = n or cfg.n_public
    runs = [r for r in runs if r[0] < n]  # a stage never looks at the runs of a later one
    in_budget = [i for i, status, _ in runs if status == RunStatus.FINISHED]
    seconds = [t for _, _, t in runs if t is not None]
    used = in_budget if cfg.over_budget == "drop" else [i for i, _, _ in runs]
    used = used[:n]
    needed = cfg.min_runs_for(n) if cfg.over_budget == "drop" else n
    if len(used) < needed:
        raise SubmissionFailed(
            FailureReason.OVER_BUDGET,
            f"Only {len(in_budget)} of {n} runs finished within the budget of {budget:.2f} s; "
            f"at least {needed} are needed.",
        )
    unlearned = artefacts.stack_outputs(
        [artefacts.load_outputs(storage.pull(storage.run_outputs(submission_id, i))) for i in used]
    )
    original = artefacts.load_outputs(
        storage.pull(storage.competition_dir(slug) / artefacts.ORIGINAL_OUTPUTS)
    )
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
