"""The preparation job: status in the database around :func:`worker.preparation.prepare`."""

from __future__ import annotations

import logging

import torch
from sqlalchemy import select

from server.competition_config import CompetitionConfig
from server.db import session_scope
from server.jsonsafe import json_safe
from server.models import (
    PREPARED_STATUSES,
    AuditEntry,
    Competition,
    CompetitionStatus,
    Dataset,
    Submission,
    SubmissionStatus,
    utcnow,
)
from server.queue import enqueue_scoring
from server.settings import Settings
from server.storage import Storage
from worker import hardware
from worker.budget import store_budget
from worker.liveness import beating
from worker.preparation import prepare

log = logging.getLogger(__name__)


def run_preparation(competition_id: int, settings: Settings) -> None:
    with session_scope() as s:
        comp = s.get(Competition, competition_id)
        if comp is None or comp.status in PREPARED_STATUSES:
            return
        comp.status = CompetitionStatus.PREPARING
        comp.status_message = None
        comp.preparation_progress = {"stage": "starting", "done": 0, "total": 1}
        comp.heartbeat_at = utcnow()
        config = CompetitionConfig.model_validate(comp.config)
        dataset = s.scalar(select(Dataset).where(Dataset.competition_id == competition_id))
        dataset_sha = dataset.sha256 if dataset is not None else None
    threads = hardware.cpu_threads(settings.worker_threads)
    torch.set_num_threads(threads)
    device = hardware.device()
    storage = Storage(settings)
    out_dir = storage.competition_dir(config.slug)
    data_file = storage.dataset_file(config.slug) if config.dataset.source == "upload" else None

    def progress(stage: str, done: int, total: int) -> None:
        with session_scope() as s:
            row = s.get(Competition, competition_id)
            if row is not None:
                row.preparation_progress = {"stage": stage, "done": done, "total": total}

    try:
        with beating(Competition, competition_id, settings.heartbeat_seconds):
            timing, summary = prepare(config, out_dir, device, progress, data_file, dataset_sha)
    except Exception as exc:  # every path ends in a terminal status with a reason
        log.exception("preparation of competition %s failed", competition_id)
        with session_scope() as s:
            row = s.get(Competition, competition_id)
            if row is not None:
                row.status = CompetitionStatus.FAILED
                row.status_message = (
                    f"Preparation failed: {type(exc).__name__}: {exc}. Finished references are "
                    "kept; fix the cause and prepare again to resume."
                )[:2000]
                s.add(
                    AuditEntry(
                        competition_id=competition_id,
                        action="preparation_failed",
                        detail={"error": row.status_message},
                    )
                )
        _release_waiting(competition_id)
        return
    store_budget(
        competition_id,
        hardware.hardware_class(threads),
        timing.original_seconds,
        timing.budget_seconds,
    )
    with session_scope() as s:
        row = s.get(Competition, competition_id)
        row.status = CompetitionStatus.OPEN if config.open_when_ready else CompetitionStatus.READY
        if config.open_when_ready:
            row.opened_at = utcnow()
        row.reference_summary = json_safe(summary)
        row.prepared_at = utcnow()
        row.preparation_progress = None
        s.add(
            AuditEntry(
                competition_id=competition_id,
                action="preparation_finished",
                detail={
                    "original_seconds": timing.original_seconds,
                    "budget_seconds": timing.budget_seconds,
                },
            )
        )
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
