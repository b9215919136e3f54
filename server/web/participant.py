"""Participants' pages: accept the rules, submit (drag and drop, progress bar, inline error),
my submissions, and a submission's detail with live status, plots and the final-pick button."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse
from sqlalchemy import select

from core.errors import BadRequest, DomainError, NotAuthenticated, TooLarge
from core.models import TERMINAL_SUBMISSION_STATUSES, Submission, SubmissionStatus, User
from server.api.deps import AppSettings, AppStorage, DbSession, RowId
from server.errors import http_status
from server.precision import round_score, whole_second
from server.services import competitions, submissions
from server.services.access import manages
from server.services.teams import entrant_of
from server.services.uploads import validate_note, validate_upload
from server.web.common import page_user, redirect, render
from server.web.session import check_csrf

router = APIRouter(include_in_schema=False)


def _login_redirect(path: str):
    return redirect(f"/login?next={path}")


@router.post("/c/{slug}/rules")
def accept_rules(slug: str, request: Request, db: DbSession, csrf: str = Form("")):
    check_csrf(request, csrf)
    user = page_user(request, db)
    if user is None:
        return _login_redirect(f"/c/{slug}")
    submissions.accept_rules(db, competitions.get_visible(db, slug, user), user)
    return redirect(f"/c/{slug}/submit")


@router.get("/c/{slug}/submit", response_class=HTMLResponse)
def submit_page(slug: str, request: Request, db: DbSession, settings: AppSettings):
    user = page_user(request, db)
    if user is None:
        return _login_redirect(f"/c/{slug}/submit")
    comp = competitions.get_visible(db, slug, user)
    view = competitions.public_view(db, comp, user, settings)
    return render(request, "submit.html", {"c": view, "tab": "submit", "error": None}, user)


@router.post("/c/{slug}/submit", response_class=HTMLResponse)
def submit_form(
    slug: str,
    request: Request,
    db: DbSession,
    settings: AppSettings,
    storage: AppStorage,
    csrf: str = Form(""),
    file: UploadFile | None = File(None),
    message: str = Form(""),
    method: str = Form(""),
    url: str = Form(""),
):
    """The upload without JavaScript (the page's script posts to the API instead)."""
    check_csrf(request, csrf)
    user = page_user(request, db)
    if user is None:
        return _login_redirect(f"/c/{slug}/submit")
    comp = competitions.get_visible(db, slug, user)
    try:
        if file is None or not file.filename:
            raise BadRequest("Choose your .py, .ipynb or .zip file first.")
        limit = competitions.max_upload_bytes(comp, settings)
        content = file.file.read(limit + 1)
        if len(content) > limit:
            raise TooLarge(f"The file is larger than the limit of {limit:,} bytes.")
        lim = competitions.config_of(comp).limits
        upload = validate_upload(
            file.filename, content, limit, lim.max_unpacked_bytes, lim.max_files
        )
        note = validate_note(message, method, url)
        client = request.client.host if request.client else None
        sub = submissions.create_submission(db, storage, user, comp, upload, client, note)
    except DomainError as exc:
        view = competitions.public_view(db, comp, user, settings)
        return render(
            request,
            "submit.html",
            {"c": view, "tab": "submit", "error": exc.detail},
            user,
            http_status(exc),
        )
    return redirect(f"/s/{sub.id}")


@router.get("/c/{slug}/submissions", response_class=HTMLResponse)
def my_submissions(slug: str, request: Request, db: DbSession, settings: AppSettings):
    user = page_user(request, db)
    if user is None:
        return _login_redirect(f"/c/{slug}/submissions")
    comp = competitions.get_visible(db, slug, user)
    view = competitions.public_view(db, comp, user, settings)
    subs = [submissions.view_for(db, s, user) for s in submissions.list_for_user(db, comp, user)]
    live = any(s.status not in TERMINAL_SUBMISSION_STATUSES for s in subs)
    template = "_submission_rows.html" if request.headers.get("hx-request") else "submissions.html"
    return render(request, template, {"c": view, "tab": "mine", "subs": subs, "live": live}, user)


def _history(db, sub: Submission, user: User) -> list:
    """(time, public score) of the entrant's scored submissions: the score-over-time plot."""
    entrant = entrant_of(db, sub.competition, user)
    rows = db.execute(
        select(Submission.created_at, Submission.score).where(
            Submission.competition_id == sub.competition_id,
            entrant.submissions(),
            Submission.status == SubmissionStatus.SCORED,
        )
    ).all()
    return [(whole_second(t), round_score(s)) for t, s in rows if s is not None]


def _detail_context(db, sub: Submission, user: User) -> dict:
    return {
        "s": submissions.view_for(db, sub, user),
        "organizer": manages(db, user, sub.competition),
        "mine": submissions.belongs_to(sub, entrant_of(db, sub.competition, user)),
        "history": _history(db, sub, user),
        "slug": sub.competition.slug,
    }


@router.get("/s/{submission_id}", response_class=HTMLResponse)
def submission_page(submission_id: RowId, request: Request, db: DbSession):
    user = page_user(request, db)
    if user is None:
        return _login_redirect(f"/s/{submission_id}")
    sub = submissions.get_for_reader(db, submission_id, user)
    template = "_submission_live.html" if request.headers.get("hx-request") else "submission.html"
    return render(request, template, _detail_context(db, sub, user), user)


@router.post("/s/{submission_id}/final")
def mark_final(
    submission_id: RowId,
    request: Request,
    db: DbSession,
    csrf: str = Form(""),
    final: str = Form("true"),
):
    check_csrf(request, csrf)
    user = page_user(request, db)
    if user is None:
        return _login_redirect(f"/s/{submission_id}")
    submissions.set_final(db, submission_id, user, final == "true")
    return redirect(f"/s/{submission_id}")


@router.post("/s/{submission_id}/cancel")
def cancel(submission_id: RowId, request: Request, db: DbSession, csrf: str = Form("")):
    check_csrf(request, csrf)
    user = page_user(request, db)
    if user is None:
        return _login_redirect(f"/s/{submission_id}")
    submissions.cancel(db, submission_id, user)
    return redirect(f"/s/{submission_id}")


@router.get("/s/{submission_id}/diagnostic", response_class=PlainTextResponse)
def diagnostic(submission_id: RowId, request: Request, db: DbSession, storage: AppStorage):
    user = page_user(request, db)
    if user is None:
        raise NotAuthenticated("Log in first.")
    return submissions.diagnostic_log(db, storage, submission_id, user)


@router.get("/s/{submission_id}/logs", response_class=PlainTextResponse)
def logs(submission_id: RowId, request: Request, db: DbSession, storage: AppStorage):
    user = page_user(request, db)
    if user is None:
        raise NotAuthenticated("Log in first.")
    data = submissions.run_logs(db, storage, submission_id, user)
    return "\n".join(f"===== run {r.index} ({r.status}) =====\n{r.log}" for r in data.runs)
