"""Uploading a submission and following it."""

from __future__ import annotations

import re

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from core.errors import BadRequest, TooLarge
from server.api.deps import AppSettings, AppStorage, CurrentUser, DbSession, RowId
from server.api.paging import Page
from server.schemas import RunLogs, SubmissionAccepted, SubmissionPublic
from server.services import competitions, submissions
from server.services.uploads import validate_note, validate_upload

router = APIRouter(tags=["submissions"])
CHUNK = 64 * 1024


def _read_limited(upload: UploadFile, limit: int) -> bytes:
    """Read at most ``limit`` + 1 bytes, so an oversized upload is never held whole."""
    data = bytearray()
    while chunk := upload.file.read(CHUNK):
        data += chunk
        if len(data) > limit:
            raise TooLarge(
                f"The file is larger than the limit of {limit:,} bytes. Upload only your unlearning code.",
            )
    return bytes(data)


@router.post("/competitions/{slug}/submissions", status_code=202, response_model=SubmissionAccepted)
def submit(
    slug: str,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    settings: AppSettings,
    storage: AppStorage,
    file: UploadFile | None = File(
        None,
        description="Your .py, .ipynb, or .zip (entry module and helpers) defining unlearning(...)",
    ),
    message: str | None = Form(None, description="What this submission tries (≤ 500 characters)."),
    method: str | None = Form(None, description="Your method's name (≤ 100 characters)."),
    url: str | None = Form(None, description="A paper or code link (http or https)."),
) -> SubmissionAccepted:
    comp = competitions.get_competition(db, slug)
    if file is None:
        raise BadRequest("No file: send your .py file as the multipart form field 'file'.")
    limit = competitions.max_upload_bytes(comp, settings)
    lim = competitions.config_of(comp).limits
    content = _read_limited(file, limit)
    upload = validate_upload(file.filename, content, limit, lim.max_unpacked_bytes, lim.max_files)
    note = validate_note(message, method, url)
    client = request.client.host if request.client else None
    sub = submissions.create_submission(db, storage, user, comp, upload, client, note)
    return SubmissionAccepted(id=sub.id, status=sub.status)


@router.get("/competitions/{slug}/submissions", response_model=list[SubmissionPublic])
def my_submissions(
    slug: str, db: DbSession, user: CurrentUser, page: Page
) -> list[SubmissionPublic]:
    """Your submissions and your team's, newest first (paged: X-Total-Count, Link)."""
    comp = competitions.get_competition(db, slug)
    return [
        submissions.view_for(db, s, user)
        for s in page.apply(submissions.list_for_user(db, comp, user))
    ]


@router.get("/submissions/{submission_id}/diagnostic-log", response_class=PlainTextResponse)
def submission_diagnostic_log(
    submission_id: RowId, db: DbSession, storage: AppStorage, user: CurrentUser
) -> str:
    """The full log of the submission's run on public data: its submitter, team and organizers."""
    return submissions.diagnostic_log(db, storage, submission_id, user)


@router.get("/submissions/{submission_id}/logs", response_model=RunLogs)
def submission_logs(
    submission_id: RowId, db: DbSession, user: CurrentUser, storage: AppStorage
) -> RunLogs:
    """Full run logs: organizers only (the runs saw hidden data)."""
    return submissions.run_logs(db, storage, submission_id, user)


@router.get("/submissions/{submission_id}", response_model=SubmissionPublic)
def get_submission(submission_id: RowId, db: DbSession, user: CurrentUser) -> SubmissionPublic:
    sub = submissions.get_for_reader(db, submission_id, user)
    return submissions.view_for(db, sub, user)


@router.get(
    "/submissions/{submission_id}/code",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file."}},
)
def download_code(
    submission_id: RowId, db: DbSession, user: CurrentUser, storage: AppStorage
) -> Response:
    """Your uploaded file back (your team's too; organizers: any), as it was stored."""
    filename, content = submissions.code_of(db, storage, submission_id, user)
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:200] or f"submission-{submission_id}"
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/submissions/{submission_id}/cancel", response_model=SubmissionPublic)
def cancel_submission(submission_id: RowId, db: DbSession, user: CurrentUser) -> SubmissionPublic:
    """Cancel: your own queued submission, or (organizers) any queued or running one."""
    sub = submissions.cancel(db, submission_id, user)
    return submissions.view_for(db, sub, user)


class FinalChoice(BaseModel):
    final: bool = True


@router.post("/submissions/{submission_id}/final", response_model=SubmissionPublic)
def mark_final(
    submission_id: RowId, db: DbSession, user: CurrentUser, body: FinalChoice | None = None
) -> SubmissionPublic:
    """Choose (or unchoose) a scored submission as one of your final picks for the private board."""
    sub = submissions.set_final(db, submission_id, user, (body or FinalChoice()).final)
    return submissions.view_for(db, sub, user)
