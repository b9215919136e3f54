"""The preparation job: status in the database around :func:`worker.preparation.prepare`."""

from __future__ import annotations

import logging
import shutil

import torch
from sqlalchemy import select

from server.competition_config import CompetitionConfig
from server.db import session_scope
from server.jsonsafe import json_safe
from server.models import Competition, CompetitionStatus, Submission, SubmissionStatus, utcnow
from server.queue import enqueue_scoring
from server.settings import Settings
from server.storage import Storage
from worker import hardware
from worker.budget import store_budget
from worker.preparation import prepare

log = logging.getLogger(__name__)


def run_preparation(competition_id: int, settings: Settings) -> None:
    with session_scope() as s:
        comp = s.get(Competition, competition_id)
        if comp is None or comp.status == CompetitionStatus.READY:
            return
        comp.status = CompetitionStatus.PREPARING
        comp.status_message = None
        comp.preparation_progress = {"stage": "starting", "done": 0, "total": 1}
        config = CompetitionConfig.model_validate(comp.config)
    threads = hardware.cpu_threads(settings.worker_threads)
    torch.set_num_threads(threads)
    device = hardware.device()
    out_dir = Storage(settings).competition_dir(config.slug)
    shutil.rmtree(out_dir, ignore_errors=True)

    def progress(stage: str, done: int, total: int) -> None:
        with session_scope() as s:
            row = s.get(Competition, competition_id)
            if row is not None:
                row.preparation_progress = {"stage": stage, "done": done, "total": total}

    try:
        timing, summary = prepare(config, out_dir, device, progress)
    except Exception as exc:  # every path ends in a terminal status with a reason
        log.exception("preparation of competition %s failed", competition_id)
        with session_scope() as s:
            row = s.get(Competition, competition_id)
            if row is not None:
                row.status = CompetitionStatus.FAILED
                row.status_message = f"Preparation failed: {type(exc).__name__}: {exc}"[:2000]
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
        row.status = CompetitionStatus.READY
        row.reference_summary = json_safe(summary)
        row.prepared_at = utcnow()
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
