"""The preparation job, fanned out: one worker trains and times the original model on its
hardware class, the N reference models go to that class's queue in chunks
(``execution.references_per_chunk``, batched where the architecture allows it), and the
worker that ends the last chunk stacks them and opens the competition.

Status in the database all along: ``preparing`` with progress (stage, done of total), then
``ready``/``open``, or ``failed`` with the reason. Resumable at every step: the original,
its timing and each finished reference are kept on disk (``worker/ml/preparation.py``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from sqlalchemy import select, update

from core import state
from core.competition_config import CompetitionConfig
from core.db import session_scope
from core.jsonsafe import json_safe
from core.models import (
    PREPARED_STATUSES,
    AuditEntry,
    ChunkKind,
    ChunkStatus,
    Competition,
    CompetitionStatus,
    Dataset,
    Submission,
    SubmissionStatus,
    WorkChunk,
    utcnow,
)
from core.queue import enqueue_preparation, enqueue_scoring
from core.settings import Settings
from core.storage import Storage
from worker import hardware
from worker.jobs.baselines import score_baselines
from worker.jobs.validity import run_validity
from worker.liveness import beating
from worker.ml import artefacts
from worker.ml.nets import model_imports
from worker.ml.preparation import (
    FINGERPRINT,
    Timing,
    fingerprint,
    finish_references,
    prepare_original,
    reference_file,
    train_reference_range,
)
from worker.ml.problem import build_problem
from worker.pipeline import fanout
from worker.pipeline.budget import store_budget
from worker.pipeline.trials import jail_for, run_clock
from worker.runtime import Runtime, runtime_for
from worker.sandbox.jail import SandboxUnavailable

log = logging.getLogger(__name__)


def _load(competition_id: int) -> tuple[CompetitionConfig, str | None, str] | None:
    with session_scope() as s:
        comp = s.get(Competition, competition_id)
        if comp is None:
            return None
        dataset = s.scalar(select(Dataset).where(Dataset.competition_id == competition_id))
        return (
            comp.working_config,
            dataset.sha256 if dataset is not None else None,
            comp.status,
        )


def _resolve_runtime(competition_id: int, config: CompetitionConfig, settings: Settings) -> Runtime:
    """Build the competition's runtime on this worker (RuntimeFailed: the resolver's reason)
    and record what it resolved to on the competition."""
    runtime = runtime_for(config.runtime, settings)
    with session_scope() as s:
        s.get(Competition, competition_id).runtime_lock = runtime.lock or None
    return runtime


def _data_file(config: CompetitionConfig, storage: Storage) -> Path | None:
    if config.dataset.source != "upload":
        return None
    return storage.pull(storage.dataset_file(config.slug))


def _share_original(storage: Storage, out_dir: Path, stamp: str) -> None:
    """Before the original is prepared: this node's copy of what the shared store holds, the
    store emptied first if its artefacts are of another fingerprint (then nothing is reusable);
    no-op without a shared store."""
    if storage.remote is None:
        return
    if storage.pull(out_dir / FINGERPRINT).is_file() and (
        (out_dir / FINGERPRINT).read_text() != stamp
    ):
        storage.forget(out_dir)  # prepare_original wipes the local copy
    else:
        storage.pull_tree(out_dir)


def _references_done(storage: Storage, out_dir: Path, n: int) -> int:
    """References 0..n-1 saved here or, by other workers, in the shared store."""
    names = storage.shared_names(reference_file(out_dir, 0).parent)
    return sum(reference_file(out_dir, k).name in names for k in range(n))


def _charge(competition_id: int, seconds: float) -> None:
    """Add device time to the competition's preparation (compute accounting)."""
    with session_scope() as s:
        s.execute(
            update(Competition)
            .where(Competition.id == competition_id)
            .values(preparation_device_seconds=Competition.preparation_device_seconds + seconds)
        )


def _set_progress(competition_id: int, stage: str, done: int, total: int) -> None:
    with session_scope() as s:
        s.execute(
            update(Competition)
            .where(
                Competition.id == competition_id,
                Competition.status == CompetitionStatus.PREPARING,
            )
            .values(preparation_progress={"stage": stage, "done": done, "total": total})
        )


def run_preparation(
    competition_id: int, settings: Settings, worker: str | None = None, *, inline: bool = False
) -> None:
    """Start (or resume) a preparation: the original model here, the references fanned out.
    ``inline``: train the reference chunks here too, one after another."""
    loaded = _load(competition_id)
    if loaded is None or loaded[2] in PREPARED_STATUSES:
        return
    config, dataset_sha, _ = loaded
    mine = hardware.worker_class(settings)
    wanted = config.execution.hardware_class
    if wanted and hardware.slug(wanted) != mine and not inline:
        # the original must be timed on the class that will score: hand it to that class
        enqueue_preparation(competition_id, hardware.run_queue(wanted))
        return
    with session_scope() as s:
        state.start_preparation(
            s.get(Competition, competition_id),
            status_message=None,
            preparation_progress={"stage": "starting", "done": 0, "total": 1},
            heartbeat_at=utcnow(),
        )
    try:
        runtime = _resolve_runtime(competition_id, config, settings)
        with model_imports(runtime.site):
            timing, todo, chunk_ids = _original_and_plan(
                competition_id, config, dataset_sha, settings, runtime.lock.get("torch")
            )
        storage = Storage(settings)  # with the artefacts: every score records it
        lock_file = storage.competition_dir(config.slug) / artefacts.RUNTIME_LOCK
        lock_file.write_text(json.dumps(runtime.lock, indent=1))
        storage.push(lock_file)
    except Exception as exc:  # every path ends in a terminal status with a reason
        _failed(competition_id, exc)
        return
    log.info(
        "competition %s: original timed (%.2f s); %d references to train in %d chunks on %s",
        config.slug,
        timing.original_seconds,
        len(todo),
        len(chunk_ids),
        mine,
    )
    if not chunk_ids:
        finish_preparation(competition_id, settings)
    elif inline:
        for chunk_id in chunk_ids:
            run_reference_chunk(chunk_id, settings, worker or "inline")
    else:
        fanout.send(chunk_ids)


def _on_this_worker(
    settings: Settings, config: CompetitionConfig
) -> tuple[torch.device, Storage, Path]:
    """Training here: this worker's threads and device, the store and the competition folder."""
    torch.set_num_threads(hardware.cpu_threads(settings.worker_threads))
    storage = Storage(settings)
    return hardware.device(), storage, storage.competition_dir(config.slug)


def _original_and_plan(
    competition_id: int,
    config: CompetitionConfig,
    dataset_sha: str | None,
    settings: Settings,
    runtime_torch: str | None,
) -> tuple[Timing, list[int], list[int]]:
    """Train and time the original here (or take the shared one), record the budget, and plan
    the reference chunks still to train: (timing, references to do, chunk ids)."""
    mine = hardware.worker_class(settings)
    device, storage, out_dir = _on_this_worker(settings, config)
    n = config.scoring.n_references
    started = time.perf_counter()
    with beating(Competition, competition_id, settings.heartbeat_seconds):
        _share_original(storage, out_dir, fingerprint(config, dataset_sha))
        _, _, timing = prepare_original(
            config,
            out_dir,
            device,
            lambda stage, d, t: _set_progress(competition_id, stage, d, t),
            _data_file(config, storage),
            dataset_sha,
            runtime_torch,
            clock=run_clock(config, device, _jail_or_none(settings)),
        )
        storage.push(*(p for p in out_dir.iterdir() if p.is_file()))
        store_budget(competition_id, mine, timing)
        _charge(competition_id, time.perf_counter() - started)
        todo = [k for k in range(n) if not reference_file(out_dir, k).is_file()]
        _set_progress(competition_id, "references", n - len(todo), n)
        chunk_ids = fanout.plan(
            ChunkKind.REFERENCES,
            competition_id,
            None,
            todo,
            config.execution.references_per_chunk,
            mine,
        )
    return timing, todo, chunk_ids


def run_reference_chunk(chunk_id: int, settings: Settings, worker: str | None = None) -> None:
    """Train one chunk of references; the worker that ends the last chunk finishes."""
    chunk = fanout.claim(chunk_id, worker)
    if chunk is None:
        return
    cid = chunk.competition_id
    loaded = _load(cid)
    if loaded is None or loaded[2] != CompetitionStatus.PREPARING:
        fanout.finish(chunk_id, worker, ChunkStatus.ABANDONED)
        return
    config, _, _ = loaded
    device, storage, out_dir = _on_this_worker(settings, config)
    n = config.scoring.n_references
    started = time.perf_counter()
    try:
        with (
            beating(WorkChunk, chunk_id, settings.heartbeat_seconds, (Competition, cid)),
            model_imports(runtime_for(config.runtime, settings).site),
        ):
            problem = build_problem(config, _data_file(config, storage))
            for k in chunk.indices:  # saved by a worker that lost this chunk
                storage.pull(reference_file(out_dir, k))

            def saved(k: int) -> None:
                storage.push(reference_file(out_dir, k))
                _set_progress(cid, "references", _references_done(storage, out_dir, n), n)

            trained = train_reference_range(
                config,
                problem,
                device,
                out_dir,
                chunk.indices,
                on_saved=saved,
                keep_going=lambda: fanout.still_mine(chunk_id, worker),
            )
            log.info("chunk %s: %d references trained (%s)", chunk_id, trained, worker)
            held = time.perf_counter() - started
            fanout.add_device_seconds(chunk_id, held)
            _charge(cid, held)
    except Exception as exc:
        fanout.finish(chunk_id, worker, ChunkStatus.FAILED)
        _failed(cid, exc)
        return
    missing = [k for k in chunk.indices if not reference_file(out_dir, k).is_file()]
    if missing:  # stopped early: handed to another worker, or the preparation ended
        fanout.finish(chunk_id, worker, ChunkStatus.ABANDONED)
        return
    if fanout.finish(chunk_id, worker, ChunkStatus.DONE) and (
        fanout.unfinished(ChunkKind.REFERENCES, cid, None) == 0
    ):
        finish_preparation(cid, settings)


def finish_preparation(competition_id: int, settings: Settings) -> None:
    """Stack the references, summarize them, and make the competition ready (or open)."""
    loaded = _load(competition_id)
    if loaded is None or loaded[2] != CompetitionStatus.PREPARING:
        return
    config, _, _ = loaded
    storage = Storage(settings)
    out_dir = storage.competition_dir(config.slug)
    try:
        with beating(Competition, competition_id, settings.heartbeat_seconds):
            _set_progress(competition_id, "summary", 0, 1)
            problem = build_problem(config, _data_file(config, storage))
            timing, summary = finish_references(config, problem, storage.pull_tree(out_dir))
            storage.push(out_dir / artefacts.REFERENCES)
            if config.validity.baselines:
                _set_progress(competition_id, "baselines", 0, len(config.validity.baselines))
                rows, failures, seconds = score_baselines(
                    competition_id, config, settings, problem, timing.budget_seconds
                )
                summary.update(
                    baselines=rows, baseline_failures=failures, baseline_device_seconds=seconds
                )
                _charge(competition_id, seconds)  # the preparation's compute, nobody's quota
    except Exception as exc:
        _failed(competition_id, exc)
        return
    # the report first, so that a competition is ready with it (its cost: docs/benchmarks.md)
    run_validity(competition_id, settings, "preparation", references=json_safe(summary))
    _ready(competition_id, config, timing.original_seconds, timing.budget_seconds, summary)


def _ready(
    competition_id: int,
    config: CompetitionConfig,
    original_seconds: float,
    budget_seconds: float,
    summary: dict[str, Any],
) -> None:
    now = utcnow()
    with session_scope() as s:
        done = state.preparation_done(
            s,
            competition_id,
            open_now=config.open_when_ready,
            opened_at=now if config.open_when_ready else Competition.opened_at,
            reference_summary=json_safe(summary),
            prepared_at=now,
            preparation_progress=None,
        )
        if not done:
            return  # another worker finished it first
        s.add(
            AuditEntry(
                competition_id=competition_id,
                action="preparation_finished",
                detail={"original_seconds": original_seconds, "budget_seconds": budget_seconds},
            )
        )
    _release_waiting(competition_id)


def _failed(competition_id: int, exc: Exception) -> None:
    log.error("preparation of competition %s failed", competition_id, exc_info=exc)
    message = (
        f"Preparation failed: {type(exc).__name__}: {exc}. Finished references are "
        "kept; fix the cause and prepare again to resume."
    )[:2000]
    with session_scope() as s:
        if state.fail_preparation(s, competition_id, message):
            s.add(
                AuditEntry(
                    competition_id=competition_id,
                    action="preparation_failed",
                    detail={"error": message},
                )
            )
    fanout.abandon(ChunkKind.REFERENCES, competition_id, None)
    _release_waiting(competition_id)


def _release_waiting(competition_id: int) -> None:
    """Queue the submissions that arrived while the competition was being prepared."""
    with session_scope() as s:
        ids = s.scalars(
            select(Submission.id).where(
                Submission.competition_id == competition_id,
                Submission.status == SubmissionStatus.QUEUED,
            )
        ).all()
    for sid in ids:
        enqueue_scoring(sid)


def _jail_or_none(settings: Settings):
    """This worker's jail (for the clock its runs will be charged by), or None without one."""
    try:
        return jail_for(settings.sandbox_user, settings.unsafe_no_sandbox)
    except SandboxUnavailable:
        return None
