"""One chunk of a submission's runs on this worker: its sandbox (kept warm between chunks of
the same submission), each run with its seed and budget, its record and its verdict. The worker
that ends the last chunk finalizes the stage."""

from __future__ import annotations

import logging
import shutil
import time

import torch

from core.logs import bound
from core.models import ChunkKind, ChunkStatus, FailureReason, Submission, WorkChunk
from core.settings import Settings
from core.storage import Storage
from worker import hardware
from worker.jobs.finish import finalize
from worker.liveness import beating
from worker.ml import artefacts
from worker.ml.problem import build_problem
from worker.pipeline import fanout, run_records
from worker.pipeline.budget import ensure_budget
from worker.pipeline.diagnostic import run_diagnostic
from worker.pipeline.stage import (
    Cancelled,
    Context,
    SubmissionFailed,
    cancelled,
    fail,
    infrastructure_failure,
    running_context,
)
from worker.pipeline.stored_runs import data_file_for
from worker.pipeline.trials import (
    jail_for,
    make_setup,
    open_runner,
    run_clock,
    run_seed,
    run_trial,
    runnable_code,
    verdict,
)
from worker.runtime import runtime_for
from worker.sandbox import warm as warm_sandbox
from worker.sandbox.jail import Jail, SandboxUnavailable

log = logging.getLogger(__name__)

NO_SANDBOX = (
    "This worker cannot isolate participant code, so your submission was not run. It does not "
    "count against your quota; the worker's log tells its operators why."
)


def run_chunk(
    chunk_id: int, settings: Settings, worker: str | None = None, *, release: bool = True
) -> None:
    """Run one chunk of a submission's runs; the worker that ends the last chunk scores it.
    A chunk that passes releases the chunks held back by ``execution.fail_fast``."""
    chunk = fanout.claim(chunk_id, worker)
    if chunk is None:
        return
    sid = chunk.submission_id
    ctx = running_context(sid)
    if ctx is None:  # cancelled or failed meanwhile
        fanout.finish(chunk_id, worker, ChunkStatus.ABANDONED)
        return
    if not _run_chunk_runs(ctx, settings, chunk, worker):
        return
    if release:  # before DONE: a worker lost in between leaves a running chunk, redone
        held = fanout.release_held(ChunkKind.RUNS, ctx.competition_id, sid)
        if held:
            log.info("first chunk passed: %d more chunks released", len(held))
            fanout.send(held)
    if fanout.finish(chunk_id, worker, ChunkStatus.DONE) and (
        fanout.unfinished(ChunkKind.RUNS, ctx.competition_id, sid) == 0
    ):
        finalize(sid, settings)


def _run_chunk_runs(
    ctx: Context, settings: Settings, chunk: fanout.Chunk, worker: str | None
) -> bool:
    """The chunk's runs; False when the chunk ended otherwise (cancelled, failed)."""
    sid, chunk_id = ctx.submission_id, chunk.id
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
    except SubmissionFailed as failure:
        fanout.finish(chunk_id, worker, ChunkStatus.FAILED)
        fail(ctx, failure)
    except Exception:
        log.exception("chunk %s of submission %s failed", chunk_id, sid)
        fanout.finish(chunk_id, worker, ChunkStatus.FAILED)
        fail(ctx, infrastructure_failure())
    finally:
        if warm is not None:  # kept for this submission's next chunk if one waits
            more = passed and fanout.unfinished(ChunkKind.RUNS, ctx.competition_id, sid) > 1
            warm_sandbox.give_back(warm, keep=more)
    return passed


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
        jail = _jail(settings)
        clock = run_clock(config, device, jail)
        budget = ensure_budget(ctx.competition_id, config, hw, problem, device, clock)
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
                clock=clock,
                jail=jail,
                runtime=runtime_for(config.runtime, settings),
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
    sid = ctx.submission_id
    if ctx.stage == "public" and chunk.start == 0 and not run_records.diagnostic_done(sid):
        _diagnose(ctx, storage, warm, chunk)
    charged: list[float] = []
    for index in chunk.indices:
        if cancelled(sid) or not fanout.still_mine(chunk.id, worker):
            raise Cancelled
        out_path = storage.run_outputs(sid, index)
        if run_records.already_recorded(sid, index) and storage.pull(out_path).is_file():
            continue
        seed = run_seed(sid, index)
        run_records.start_run(sid, index, seed, budget)
        log_path = storage.run_log(sid, index)
        with bound(run=index):
            started = time.perf_counter()
            result = run_trial(setup, runner, seed, log_path, out_path)
            held = time.perf_counter() - started  # sandbox, the function, evaluation
            log.info("run %s: %s in %.2f s", index, result.outcome, result.seconds or 0.0)
        storage.push(*(p for p in (out_path, log_path) if p.is_file()))  # before recording
        run_records.record_outcome(sid, index, seed, budget, result, device=(hw, held))
        fanout.add_device_seconds(chunk.id, held)
        failure = verdict(result, index, ctx.n_runs, setup, charged)
        if failure is not None:
            raise SubmissionFailed(
                FailureReason(failure.reason), failure.message, counts=failure.counts
            )
        if result.outcome == "finished" and result.seconds is not None:
            charged.append(result.seconds)


def _diagnose(
    ctx: Context, storage: Storage, warm: warm_sandbox.WarmSandbox, chunk: fanout.Chunk
) -> None:
    """The diagnostic run on public data, before the hidden runs (worker/pipeline/diagnostic.py):
    its full message and log are its author's; a failure there fails the submission with it."""
    sid = ctx.submission_id
    log_path = storage.diagnostic_log(sid)
    started = time.perf_counter()
    with bound(run="diagnostic"):
        result = run_diagnostic(warm.setup, warm.runner, warm.work_dir, log_path)
    held = time.perf_counter() - started
    storage.push(*(p for p in (log_path,) if p.is_file()))
    run_records.record_diagnostic(sid, result, held)
    fanout.add_device_seconds(chunk.id, held)
    failure = verdict(result, 0, 1, warm.setup)
    if failure is not None:
        raise SubmissionFailed(
            FailureReason(failure.reason),
            f"The diagnostic run on public data (synthetic data of the hidden splits' shapes, a "
            f"freshly initialised model) failed ({result.outcome}), so no run on hidden data was "
            "started:\n" + failure.message.split("\n", 1)[-1],
            counts=failure.counts,
        )


def _jail(settings: Settings) -> Jail | None:
    try:
        return jail_for(settings.sandbox_user, settings.unsafe_no_sandbox)
    except SandboxUnavailable as exc:
        log.error("no sandbox on this worker: %s", exc)
        raise SubmissionFailed(FailureReason.INFRASTRUCTURE, NO_SANDBOX, counts=False) from None
