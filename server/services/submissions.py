"""Submissions: validate → store → commit → enqueue; and what their owner may read."""

from __future__ import annotations

import os
import uuid
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import state
from core.competition_config import CompetitionConfig
from core.errors import Conflict, Forbidden, NotFound, Unavailable, UnsupportedType, not_found
from core.models import (
    TERMINAL_SUBMISSION_STATUSES,
    Competition,
    FailureReason,
    RulesAcceptance,
    Submission,
    SubmissionStatus,
    User,
)
from core.queue import enqueue_scoring
from core.results import load_result
from core.retention import read_log
from core.storage import Storage
from server.leaderboard import cache as board_cache
from server.schemas import RunLog, RunLogs, RunPublic, SubmissionPublic
from server.services import audit
from server.services.access import manages
from server.services.competitions import config_of, has_accepted_rules
from server.services.hidden import shown_result
from server.services.phases import accepting_phase, board_is_final, default_board
from server.services.quota import claim_slot
from server.services.readers import can_read
from server.services.teams import entrant_of
from server.services.uploads import SubmissionNote, ValidatedUpload


def _write_durably(path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


STORE_DOWN = (
    "The platform could not store your file (its shared storage did not answer), so it was not "
    "queued. It does not count against your quota; please submit again in a few minutes."
)


def create_submission(
    session: Session,
    storage: Storage,
    user: User,
    comp: Competition,
    upload: ValidatedUpload,
    client_ip: str | None = None,
    note: SubmissionNote | None = None,
) -> Submission:
    cfg: CompetitionConfig = config_of(comp)
    phase = accepting_phase(comp, cfg)
    _check_may_submit(session, comp, cfg, user, upload)
    # written and synced before the quota's lock is taken; moved into place by rename under it
    staged = storage.staging_file(uuid.uuid4().hex)
    _write_durably(staged, upload.content)
    try:
        entrant = claim_slot(session, comp, user, phase)  # locks the entrant until commit
        sub = Submission(
            competition_id=comp.id,
            user_id=user.id,
            team_id=entrant.team.id if entrant.team is not None else None,
            phase=phase.name if phase is not None else None,
            client_ip=(client_ip or "")[:64] or None,
            filename=upload.filename[:255],
            message=note.message if note else None,
            method_name=note.method_name if note else None,
            method_url=note.method_url if note else None,
            kind=upload.kind,
            sha256=upload.sha256,
            size_bytes=len(upload.content),
            status=state.initial(Submission),
            n_models=cfg.scoring.n_public,
        )
        session.add(sub)
        session.flush()
        code_path = storage.submission_code(sub.id, upload.kind)
        code_path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, code_path)
        session.commit()  # stored and committed before the 202
    except BaseException:
        session.rollback()
        staged.unlink(missing_ok=True)
        raise
    _push_or_fail(session, storage, sub, code_path)
    enqueue_scoring(sub.id)
    return sub


def _check_may_submit(
    session: Session, comp: Competition, cfg: CompetitionConfig, user: User, upload: ValidatedUpload
) -> None:
    if upload.kind not in cfg.allowed_uploads:
        allowed = ", ".join(f".{k}" for k in cfg.allowed_uploads)
        raise UnsupportedType(
            f"This competition takes {allowed} files only; convert your {upload.kind} file."
        )
    if not has_accepted_rules(session, comp, user):
        raise Forbidden(
            f"Accept the rules of {comp.slug!r} before your first submission: read them "
            f"(GET /api/v1/competitions/{comp.slug}, field participation_rules), then "
            f"POST /api/v1/competitions/{comp.slug}/rules/accept or run `arena accept-rules {comp.slug}`.",
        )


def _push_or_fail(session: Session, storage: Storage, sub: Submission, code_path) -> None:
    """Workers elsewhere read the code from the shared store: a push that fails fails the
    submission as the platform's (not counted) and answers 503."""
    try:
        storage.push(code_path)  # workers elsewhere read it from the shared store
    except OSError:
        state.fail_submission(
            session,
            sub.id,
            FailureReason.INFRASTRUCTURE,
            STORE_DOWN,
            counts=False,
            frm=[SubmissionStatus.QUEUED],
        )
        session.commit()
        raise Unavailable(STORE_DOWN) from None


def _run_view(r) -> RunPublic:
    return RunPublic(
        index=r.index,
        status=r.status,
        seconds=r.seconds,
        budget_seconds=r.budget_seconds,
        message=r.error_message,
        device=r.device,
        device_seconds=r.device_seconds,
    )


def accept_rules(session: Session, comp: Competition, user: User) -> None:
    if not has_accepted_rules(session, comp, user):
        session.add(RulesAcceptance(competition_id=comp.id, user_id=user.id))
        try:
            session.commit()
        except IntegrityError:  # accepted twice at once
            session.rollback()


def cancel(session: Session, submission_id: int, user: User) -> Submission:
    """Organizers cancel queued or running submissions; participants their own queued ones."""
    sub = get_for_reader(session, submission_id, user)
    organizer = manages(session, user, sub.competition)
    if sub.status in TERMINAL_SUBMISSION_STATUSES:
        raise Conflict(f"Submission {sub.id} is {sub.status} already; there is nothing to cancel.")
    if not organizer and sub.status != SubmissionStatus.QUEUED:
        raise Conflict(f"Submission {sub.id} is running; only the organizers can cancel it now.")
    by = "an organizer" if organizer and sub.user_id != user.id else "its submitter"
    if not state.cancel_submission(session, sub.id, sub.status, f"Cancelled by {by}."):
        session.rollback()
        raise Conflict(f"Submission {sub.id} changed state meanwhile; reload and retry.")
    if organizer:
        audit.record(session, user, sub.competition, "submission_cancelled", submission=sub.id)
    session.commit()
    session.refresh(sub)
    return sub


def set_final(session: Session, submission_id: int, user: User, final: bool) -> Submission:
    """Mark a scored submission as one of its entrant's final picks (at most the limit)."""
    sub = get_for_reader(session, submission_id, user)
    entrant = entrant_of(session, sub.competition, user)
    if not belongs_to(sub, entrant):
        raise Forbidden("Only the submitter (or their team) can choose final submissions.")
    if final and sub.status != SubmissionStatus.SCORED:
        raise Conflict(
            f"Submission {sub.id} is {sub.status}; only scored submissions can be final."
        )
    cfg = config_of(sub.competition)
    if final and not sub.is_final:
        picked = session.scalar(
            select(func.count(Submission.id)).where(
                Submission.competition_id == sub.competition_id,
                entrant.submissions(),
                Submission.is_final.is_(True),
            )
        )
        if picked >= cfg.limits.max_final_submissions:
            raise Conflict(
                f"You have chosen {picked} final submissions, the limit; unmark one first "
                f'(POST /api/v1/submissions/ID/final with {{"final": false}}).',
            )
    sub.is_final = final
    session.commit()
    board_cache.boards.invalidate(sub.competition_id)
    return sub


def belongs_to(sub: Submission, entrant) -> bool:
    if entrant.team is not None:
        return sub.team_id == entrant.team.id
    return sub.user_id == entrant.user.id and sub.team_id is None


def run_logs(session: Session, storage: Storage, submission_id: int, user: User) -> RunLogs:
    sub = get_for_reader(session, submission_id, user)
    if not manages(session, user, sub.competition):
        raise Forbidden(
            "Full run logs are for organizers only: the runs saw hidden data. Your submission's page shows "
            "the error of a failed run; to debug with full logs, run `arena score-local` on public data.",
        )
    runs = []
    for run in sub.runs:
        text = read_log(storage.pull(storage.run_log(sub.id, run.index)))
        runs.append(RunLog(index=run.index, status=run.status, log=text))
    return RunLogs(submission_id=sub.id, runs=runs)


def code_of(
    session: Session, storage: Storage, submission_id: int, user: User
) -> tuple[str, bytes]:
    """A submission's uploaded file, for its submitter, their team and the organizers."""
    sub = get_for_reader(session, submission_id, user)
    path = storage.pull(storage.submission_code(sub.id, sub.kind))
    if not path.is_file():
        raise NotFound(
            f"The code of submission {sub.id} is no longer stored (the retention policy removes "
            "the files of closed competitions)."
        )
    return sub.filename, path.read_bytes()


def diagnostic_log(session: Session, storage: Storage, submission_id: int, user: User) -> str:
    """The log of the submission's run on public data: its readers' (submitter, team,
    organizers), since no hidden data was in that run."""
    sub = get_for_reader(session, submission_id, user)
    path = storage.pull(storage.diagnostic_log(sub.id))
    if not path.is_file():
        raise NotFound(
            f"Submission {sub.id} has no diagnostic run yet (it runs before the first run on "
            "hidden data; submissions from before it was introduced have none)."
        )
    return read_log(path)


def get_for_reader(session: Session, submission_id: int, user: User) -> Submission:
    sub = session.get(Submission, submission_id)
    if sub is None or not can_read(session, user, sub):
        raise not_found(f"Submission {submission_id}")
    return sub


def list_for_user(session: Session, comp: Competition, user: User) -> list[Submission]:
    """Your submissions, and your team's."""
    entrant = entrant_of(session, comp, user)
    mine = or_(Submission.user_id == user.id, entrant.submissions())
    return list(
        session.scalars(
            select(Submission)
            .where(Submission.competition_id == comp.id, mine)
            .order_by(Submission.created_at.desc())
        ).all()
    )


def private_visible(session: Session, sub: Submission, user: User | None) -> bool:
    """Private scores: organizers always; others once the submission's board is final."""
    if user is not None and manages(session, user, sub.competition):
        return True
    cfg = config_of(sub.competition)
    board = next((p.board for p in cfg.phases if p.name == sub.phase), None) or default_board(cfg)
    return board_is_final(sub.competition, cfg, board)


def _dumped(part: BaseModel | None) -> dict[str, Any] | None:
    return part.model_dump() if part is not None else None


def view_for(session: Session, sub: Submission, viewer: User | None) -> SubmissionPublic:
    """A submission as ``viewer`` may see it: private scores once published (or to its
    organizers), its note only to those who may read it (``server/services/readers.py``)."""
    return public_view(
        sub, private_visible(session, sub, viewer), show_note=can_read(session, viewer, sub)
    )


def _note(sub: Submission) -> dict[str, Any]:
    """What only its readers see: its note, and its diagnostic run on public data."""
    return {
        "message": sub.message,
        "method_name": sub.method_name,
        "method_url": sub.method_url,
        "diagnostic": sub.diagnostic,
    }


def public_view(
    sub: Submission, show_private: bool = False, show_note: bool = False
) -> SubmissionPublic:
    """A submission's answer; the figures beside its score and its example ids as
    ``server/services/hidden.py`` shows them (``show_private``: its organizers, and everyone
    once its board is final)."""
    result = load_result(sub.result)
    scored = sub.status == SubmissionStatus.SCORED
    public = result.parts.public
    private = result.parts.private if show_private else None
    overall = result.overall  # staged N: the larger N, once run
    return SubmissionPublic(
        id=sub.id,
        competition=sub.competition.slug,
        username=sub.user.username,
        filename=sub.filename,
        **(_note(sub) if show_note else {}),
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
        score_ci=[sub.score_ci_low, sub.score_ci_high] if scored else None,
        forgetting_quality_ci=public.forgetting_quality_ci if scored else None,
        private_score=sub.private_score if scored and show_private else None,
        private_score_ci=[sub.private_score_ci_low, sub.private_score_ci_high]
        if scored and show_private
        else None,
        private_forgetting_quality=private.forgetting_quality if scored and private else None,
        private_stage=sub.private_stage,
        private_stage_message=sub.private_stage_message,
        overall_score=overall.score if scored and show_private else None,
        overall_score_ci=overall.score_ci if scored and show_private else None,
        overall_forgetting_quality=overall.forgetting_quality if scored and show_private else None,
        phase=sub.phase,
        team=sub.team.name if sub.team is not None else None,
        is_final=sub.is_final,
        scoring_version=sub.scoring_version,
        code_version=result.scoring.code_version if result.scoring else None,
        environment=result.environment if scored else None,
        elapsed_seconds=result.elapsed_seconds,
        budget_seconds=result.budget_seconds or (sub.runs[0].budget_seconds if sub.runs else None),
        clock=result.clock,
        run_seconds_median=result.run_seconds_median,
        runs_dropped=result.runs_dropped,
        n_unscorable=public.n_unscorable,
        epsilon_histogram=_dumped(public.epsilon_histogram),
        **shown_result(sub, result, show_private, scored),
        hardware_class=sub.hardware_class,
        runs=[_run_view(r) for r in sub.runs],
        device_seconds=sub.device_seconds,
    )
