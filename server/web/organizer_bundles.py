"""Organizer pages for bundles: create a competition from a bundle zip, update one from it,
download a competition as a bundle. The checks are the API's (server.services.bundles)."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse

from core.bundle import MAX_BUNDLE_BYTES, read_zip
from core.errors import BadRequest, DomainError, TooLarge
from server.api.deps import AppSettings, AppStorage, DbSession
from server.errors import http_status
from server.services import bundles, competitions
from server.services.access import can_create_competitions, require_creator, require_manager
from server.web.common import redirect, render
from server.web.organizer import _editor, _manage_context, _mine, _organizer
from server.web.session import check_csrf

router = APIRouter(include_in_schema=False)


def _read(file: UploadFile | None):
    if file is None or not file.filename:
        raise BadRequest("Choose the bundle's .zip file (competition.yaml at its top).")
    data = file.file.read(MAX_BUNDLE_BYTES + 1)
    if len(data) > MAX_BUNDLE_BYTES:
        raise TooLarge(f"The bundle is over {MAX_BUNDLE_BYTES >> 20} MiB; keep it to public files.")
    return read_zip(data)


def _problems(exc: DomainError) -> list[str]:
    return list(exc.extra.get("problems") or [exc.detail])


@router.post("/organize/new-bundle", response_class=HTMLResponse)
def create(
    request: Request,
    db: DbSession,
    settings: AppSettings,
    storage: AppStorage,
    csrf: str = Form(""),
    slug: str = Form(""),
    file: UploadFile | None = File(None),
):
    check_csrf(request, csrf)
    user = _organizer(request, db)
    require_creator(user)
    try:
        comp = bundles.create_from_bundle(db, storage, user, _read(file), slug.strip() or None)
    except DomainError as exc:
        views = [competitions.public_view(db, c, user, settings) for c in _mine(db, user)]
        context = {
            "comps": views,
            "can_create": can_create_competitions(user),
            "editor": _editor("", []),
            "bundle_problems": _problems(exc),
        }
        return render(request, "organize.html", context, user, http_status(exc))
    return redirect(f"/organize/{comp.slug}")


@router.post("/organize/{slug}/bundle", response_class=HTMLResponse)
def update(
    slug: str,
    request: Request,
    db: DbSession,
    settings: AppSettings,
    storage: AppStorage,
    csrf: str = Form(""),
    file: UploadFile | None = File(None),
):
    check_csrf(request, csrf)
    user = _organizer(request, db)
    comp = competitions.get_competition(db, slug)
    require_manager(db, user, comp, "change its settings")
    try:
        bundles.update_from_bundle(db, storage, user, comp, _read(file))
    except DomainError as exc:
        context = _manage_context(db, comp, user, settings)
        context["bundle_problems"] = _problems(exc)
        return render(request, "organize_competition.html", context, user, http_status(exc))
    return redirect(f"/organize/{slug}")


@router.get("/organize/{slug}/bundle.zip")
def export(slug: str, request: Request, db: DbSession, storage: AppStorage) -> Response:
    user = _organizer(request, db)
    comp = competitions.get_competition(db, slug)
    return Response(
        bundles.export_bundle(db, storage, user, comp),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{slug}-bundle.zip"'},
    )
