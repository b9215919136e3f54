"""Submissions: validate → store → commit → enqueue; and what their owner may read."""

from __future__ import annotations

import os

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.competition_config import CompetitionConfig
from server.errors import ApiError, not_found
from server.models import Competition, CompetitionStatus, Role, Submission, SubmissionStatus, User
from server.queue import enqueue_scoring
from server.schemas import RunLog, RunLogs, RunPublic, SubmissionPublic
from server.services.competitions import config_of, submissions_today
from server.services.uploads import ValidatedUpload
from server.storage import Storage


def _write_durably(path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def create_submission(
    session: Session, storage: Storage, user: User, comp: Competition, upload: ValidatedUpload
) -> Submission:
    if comp.status == CompetitionStatus.FAILED:
        raise ApiError(
            409, f"Competition {comp.slug!r} could not be prepared and takes no submissions now."
        )
    cfg: CompetitionConfig = config_of(comp)
    session.scalar(
        select(User).where(User.id == user.id).with_for_update()
    )  # serialise a user's uploads
    used = submissions_today(session, comp, user)
    limit = cfg.limits.max_daily_submissions
    if used >= limit:
        raise ApiError(
            429,
            f"You have used your {limit} submissions for today in {comp.slug!r}; the quota resets at 00:00 UTC.",
        )
    sub = Submission(
        competition_id=comp.id,
        user_id=user.id,
        filename=upload.filename[:255],
        kind=upload.kind,
        sha256=upload.sha256,
        size_bytes=len(upload.content),
        status=SubmissionStatus.QUEUED,
        n_models=cfg.scoring.n_models,
    )
    session.add(sub)
    session.flush()
    try:
        _write_durably(storage.submission_code(sub.id, upload.kind), upload.content)
    except OSError:
        session.rollback()
        raise
    session.commit()  # stored and committed before the 202
    enqueue_scoring(sub.id)
    return sub


def is_organizer(user: User) -> bool:
    return user.role in (Role.ADMIN, Role.ORGANIZER)


def run_logs(session: Session, storage: Storage, submission_id: int, user: User) -> RunLogs:
    sub = get_for_reader(session, submission_id, user)
    if not is_organizer(user):
        raise ApiError(
            403,
            "Full run logs are for organizers only: the runs saw hidden data. Your submission's page shows "
            "the error of a failed run; to debug with full logs, run `arena score-local` on public data.",
        )
    runs = []
    for run in sub.runs:
        path = storage.run_log(sub.id, run.index)
        text = path.read_text(errors="replace") if path.is_file() else ""
        runs.append(RunLog(index=run.index, status=run.status, log=text))
    return RunLogs(submission_id=sub.id, runs=runs)


def can_read(user: User, sub: Submission) -> bool:
    return sub.user_id == user.id or is_organizer(user)


def get_for_reader(session: Session, submission_id: int, user: User) -> Submission:
    sub = session.get(Submission, submission_id)
    if sub is None or not can_read(user, sub):
        raise not_found(f"Submission {submission_id}")
    return sub


def list_for_user(session: Session, comp: Competition, user: User) -> list[Submission]:
    return list(
        session.scalars(
            select(Submission)
            .where(Submission.competition_id == comp.id, Submission.user_id == user.id)
            .order_by(Submission.created_at.desc())
        ).all()
    )


def public_view(sub: Submission) -> SubmissionPublic:
    result = sub.result or {}
    scored = sub.status == SubmissionStatus.SCORED
    return SubmissionPublic(
        id=sub.id,
        competition=sub.competition.slug,
        username=sub.user.username,
        filename=sub.filename,
        status=sub.status,
        created_at=sub.created_at,
        started_at=sub.started_at,
        finished_at=sub.finished_at,
        n_models=sub.n_models,
        runs_done=sub.runs_done,
        failure_reason=sub.failure_reason,
        failure_message=sub.failure_message,
        counts_against_quota=sub.counts_against_quota,
        score=sub.score if scored else None,
        forgetting_quality=sub.forgetting_quality if scored else None,
        retain_ratio=sub.retain_ratio if scored else None,
        test_ratio=sub.test_ratio if scored else None,
        score_ci=[sub.score_ci_low, sub.score_ci_high] if scored else None,
        forgetting_quality_ci=result.get("forgetting_quality_ci") if scored else None,
        secondary=result.get("secondary") if scored else None,
        environment=result.get("environment") if scored else None,
        elapsed_seconds=result.get("elapsed_seconds"),
        budget_seconds=result.get("budget_seconds")
        or (sub.runs[0].budget_seconds if sub.runs else None),
        n_unscorable=result.get("n_unscorable"),
        epsilon_histogram=result.get("epsilon_histogram"),
        most_distinguishable=result.get("most_distinguishable"),
        accuracy=result.get("accuracy"),
        hardware_class=sub.hardware_class,
        runs=[
            RunPublic(
                index=r.index,
                status=r.status,
                seconds=r.seconds,
                budget_seconds=r.budget_seconds,
                message=r.error_message,
            )
            for r in sub.runs
        ],
    )
