"""Retention of files: what the platform keeps, and for how long.

- Logs of runs of **scored** submissions are compacted (gzip) once the submission is older
  than ``ARENA_LOG_COMPACT_DAYS``; organizers still read them (transparently).
- Per-run outputs, logs and the uploaded code of every submission of a competition, and its
  uploaded dataset, are deleted ``ARENA_RETENTION_DAYS`` after the competition closed. The
  database rows (scores, runs, audit log) stay; rescoring is no longer possible afterwards.

``arena retention`` applies it (``--dry-run`` reports without deleting).
"""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Competition, CompetitionStatus, Submission, SubmissionStatus, utcnow
from core.settings import Settings
from core.storage import Storage


@dataclass
class RetentionReport:
    logs_compacted: int = 0
    submissions_purged: int = 0
    datasets_purged: int = 0
    bytes_freed: int = 0
    competitions: list[str] = field(default_factory=list)


def read_log(path: Path) -> str:
    """A run log, compacted or not."""
    gz = path.with_name(path.name + ".gz")
    if path.is_file():
        return path.read_text(errors="replace")
    if gz.is_file():
        with gzip.open(gz, "rt", errors="replace") as fh:
            return fh.read()
    return ""


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _compact(path: Path) -> int:
    gz = path.with_name(path.name + ".gz")
    before = path.stat().st_size
    tmp = gz.with_name(gz.name + ".tmp")
    with open(path, "rb") as src, gzip.open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.replace(tmp, gz)
    path.unlink()
    return before - gz.stat().st_size


def apply_retention(session: Session, settings: Settings, dry_run: bool = False) -> RetentionReport:
    storage = Storage(settings)
    report = RetentionReport()
    now = utcnow()
    compact_before = now - timedelta(days=settings.log_compact_days)
    scored = session.scalars(
        select(Submission.id).where(
            Submission.status == SubmissionStatus.SCORED, Submission.finished_at < compact_before
        )
    ).all()
    for sid in scored:
        for log in sorted((storage.submission_dir(sid) / "logs").glob("*.log")):
            report.logs_compacted += 1
            report.bytes_freed += 0 if dry_run else _compact(log)
    expire_before = now - timedelta(days=settings.retention_days)
    expired = session.scalars(
        select(Competition).where(
            Competition.status == CompetitionStatus.CLOSED, Competition.closed_at < expire_before
        )
    ).all()
    for comp in expired:
        purged = 0
        for sid in session.scalars(
            select(Submission.id).where(Submission.competition_id == comp.id)
        ):
            folder = storage.submission_dir(sid)
            if folder.exists():
                purged += 1
                report.bytes_freed += _size(folder)
                if not dry_run:
                    shutil.rmtree(folder, ignore_errors=True)
            if not dry_run:
                storage.forget(folder)  # the shared store's copy (no-op without one)
        data = storage.dataset_file(comp.slug).parent
        if data.exists():
            report.datasets_purged += 1
            report.bytes_freed += _size(data)
            if not dry_run:
                shutil.rmtree(data, ignore_errors=True)
        if not dry_run:
            storage.forget(data)
        if purged:
            report.competitions.append(comp.slug)
        report.submissions_purged += purged
    return report
