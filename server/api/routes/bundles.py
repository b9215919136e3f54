"""Competition bundles (core.bundle): create and update from one zip, export it, the starter
kit and pages participants read, and the settings' JSON Schema for editors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUploadFile

from core.bundle import MAX_BUNDLE_BYTES, Bundle, read_zip
from core.config_file import json_schema
from core.errors import BadRequest, TooLarge
from server.api.deps import AppSettings, AppStorage, CurrentUser, DbSession, OptionalUser
from server.schemas import CompetitionPublic
from server.services import bundles, competitions
from server.services.access import require_creator, require_manager

router = APIRouter(tags=["organizers"])

BUNDLE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
        "description": "The bundle as a zip: competition.yaml at its top, the model module, "
        "pages/*.md, kit/..., an optional dev.npz (docs/competitions.md).",
    }
}
ZIP = {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}


async def _bundle_from(request: Request) -> Bundle:
    """The request's bundle: a raw zip body, or the multipart form field ``file``."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=4)
        try:
            file = form.get("file")
            if not isinstance(file, StarletteUploadFile):
                raise BadRequest("No file: send the bundle zip as the multipart form field 'file'.")
            data = await file.read(MAX_BUNDLE_BYTES + 1)
        finally:
            await form.close()
    else:
        data = await request.body()
    if len(data) > MAX_BUNDLE_BYTES:
        raise TooLarge(f"The bundle is over {MAX_BUNDLE_BYTES >> 20} MiB; keep it to public files.")
    if not data:
        raise BadRequest("Send the bundle zip as the body (Content-Type: application/zip).")
    return await run_in_threadpool(read_zip, data)


@router.post(
    "/competitions/bundle",
    status_code=201,
    response_model=CompetitionPublic,
    openapi_extra=BUNDLE_BODY,
)
async def create_from_bundle(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    settings: AppSettings,
    storage: AppStorage,
    slug: str | None = Query(None, description="Create it under this slug instead of the file's."),
) -> CompetitionPublic:
    """Create a competition (draft) from its bundle. The model module is checked in a jail
    first; a failed create leaves nothing behind. Organizers and admins."""
    require_creator(user)
    bundle = await _bundle_from(request)
    comp = await run_in_threadpool(bundles.create_from_bundle, db, storage, user, bundle, slug)
    return competitions.public_view(db, comp, user, settings)


@router.put("/competitions/{slug}/bundle", openapi_extra=BUNDLE_BODY)
async def update_from_bundle(
    slug: str, request: Request, db: DbSession, user: CurrentUser, storage: AppStorage
) -> dict[str, Any]:
    """Replace settings, model module, pages, kit and dev split from a bundle. A changed model
    or data sends a prepared competition back to draft."""
    comp = await run_in_threadpool(competitions.get_competition, db, slug)
    require_manager(db, user, comp, "change its settings")
    bundle = await _bundle_from(request)
    changed = await run_in_threadpool(bundles.update_from_bundle, db, storage, user, comp, bundle)
    return {
        "slug": slug,
        "changed": changed,
        "status": comp.status,
        "status_message": comp.status_message,
    }


@router.get("/competitions/{slug}/bundle", response_class=Response, responses={200: ZIP})
def export_bundle(slug: str, db: DbSession, user: CurrentUser, storage: AppStorage) -> Response:
    """The competition as a bundle zip (organizers): create it elsewhere with POST /competitions/bundle."""
    comp = competitions.get_competition(db, slug)
    data = bundles.export_bundle(db, storage, user, comp)
    return _zip(data, f"{slug}-bundle.zip")


@router.get(
    "/competitions/{slug}/kit", tags=["competitions"], response_class=Response, responses={200: ZIP}
)
def starter_kit(slug: str, db: DbSession, user: OptionalUser, storage: AppStorage) -> Response:
    """The starter kit: the bundle's kit/ files, its development split and its pages."""
    comp = competitions.get_visible(db, slug, user)
    return _zip(bundles.kit_zip(storage, comp), f"{slug}-kit.zip")


@router.get("/competitions/{slug}/pages", tags=["competitions"])
def pages(slug: str, db: DbSession, user: OptionalUser) -> dict[str, str]:
    """The competition's pages (Markdown by name: overview, data, evaluation, rules, ...)."""
    return bundles.pages_of(competitions.get_visible(db, slug, user))


@router.get("/schema/competition.json", tags=["competitions"])
def competition_schema() -> dict[str, Any]:
    """The JSON Schema of competition.yaml (for editors: yaml-language-server and others)."""
    return json_schema()


def _zip(data: bytes, name: str) -> Response:
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
