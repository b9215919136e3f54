"""A competition's own pages (from its bundle) and its starter kit, for anyone who can see it."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from core.errors import not_found
from server.api.deps import AppSettings, AppStorage, DbSession
from server.services import bundles, competitions
from server.web.common import page_user, render

router = APIRouter(include_in_schema=False)


@router.get("/c/{slug}/page/{name}", response_class=HTMLResponse)
def page(
    slug: str, name: str, request: Request, db: DbSession, settings: AppSettings
) -> HTMLResponse:
    user = page_user(request, db)
    comp = competitions.get_visible(db, slug, user)
    pages = bundles.pages_of(comp)
    if name not in pages:
        raise not_found(f"Page {name!r} of {slug!r}")
    view = competitions.public_view(db, comp, user, settings)
    return render(
        request,
        "page.html",
        {"c": view, "tab": f"page:{name}", "name": name, "text": pages[name]},
        user,
    )


@router.get("/c/{slug}/kit.zip")
def kit(slug: str, request: Request, db: DbSession, storage: AppStorage) -> Response:
    comp = competitions.get_visible(db, slug, page_user(request, db))
    return Response(
        bundles.kit_zip(storage, comp),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{slug}-kit.zip"'},
    )
