"""Pages anyone can read: home, a competition, its leaderboard, its starter kit, its validity
report (once it is public)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse

from core.errors import not_found
from core.models import CompetitionStatus
from server.api.deps import AppSettings, DbSession
from server.leaderboard.board import SORT_KEYS, Sort, build_leaderboard
from server.services import competitions, validity
from server.services.access import manages
from server.services.phases import board_is_final, now_utc
from server.services.teams import entrant_of
from server.web import validity_charts
from server.web.common import page_user, render

router = APIRouter(include_in_schema=False)
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
DOCS = Path(__file__).resolve().parent.parent.parent / "docs"
STARTER_KIT = {"finetune.py": "text/x-python", "finetune.ipynb": "application/x-ipynb+json"}


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: DbSession, settings: AppSettings) -> HTMLResponse:
    user = page_user(request, db)
    views = [
        competitions.public_view(db, c, user, settings)
        for c in competitions.list_competitions(db, user)
    ]
    now = now_utc()
    groups: dict[str, list] = {"open": [], "upcoming": [], "closed": []}
    for c in views:
        if c.status == CompetitionStatus.CLOSED:
            groups["closed"].append(c)
        elif c.status == CompetitionStatus.OPEN and (
            not c.phases or any(p.start <= now for p in c.phases)
        ):
            groups["open"].append(c)
        else:  # preparing, ready, drafts (their organizers), or open with phases to come
            groups["upcoming"].append(c)
    return render(request, "home.html", {"groups": groups}, user)


@router.get("/c/{slug}", response_class=HTMLResponse)
def competition(slug: str, request: Request, db: DbSession, settings: AppSettings) -> HTMLResponse:
    user = page_user(request, db)
    comp = competitions.get_visible(db, slug, user)
    view = competitions.public_view(db, comp, user, settings)
    board = build_leaderboard(db, comp, per_page=10)
    return render(
        request,
        "competition.html",
        {
            "c": view,
            "board": board,
            "tab": "overview",
            "starter": list(STARTER_KIT),
            "overview": (comp.bundle or {}).get("pages", {}).get("overview"),
        },
        user,
    )


@router.get("/c/{slug}/leaderboard", response_class=HTMLResponse)
def leaderboard(
    slug: str,
    request: Request,
    db: DbSession,
    settings: AppSettings,
    board: Literal["public", "private"] = Query("public"),
    phase: str | None = Query(None),
    sort: Sort = Query("score"),
    page: int = Query(1, ge=1, le=100_000),
) -> HTMLResponse:
    user = page_user(request, db)
    comp = competitions.get_visible(db, slug, user)
    view = competitions.public_view(db, comp, user, settings)
    data = build_leaderboard(db, comp, phase, board, user, sort=sort, page=page, per_page=50)
    cfg = competitions.config_of(comp)
    private_open = manages(db, user, comp) or board_is_final(comp, cfg, data.phase_board)
    pages = max(1, -(-data.total_rows // data.per_page))
    mine = None
    if user is not None:  # the viewer's own row is highlighted
        entrant = entrant_of(db, comp, user)
        mine = entrant.team.name if entrant.team is not None else user.username
    return render(
        request,
        "leaderboard.html",
        {
            "c": view,
            "board": data,
            "tab": "leaderboard",
            "private_open": private_open,
            "sorts": SORT_KEYS,
            "pages": pages,
            "mine": mine,
        },
        user,
    )


@router.get("/metric", response_class=HTMLResponse)
def metric(request: Request, db: DbSession) -> HTMLResponse:
    """How a submission is scored, in plain words (docs/metric.md), with its figure."""
    text = (
        (DOCS / "metric.md").read_text().replace("(h_of_epsilon.svg)", "(/metric/h_of_epsilon.svg)")
    )
    return render(request, "metric.html", {"text": text}, page_user(request, db))


@router.get("/metric/h_of_epsilon.svg")
def metric_figure() -> FileResponse:
    return FileResponse(DOCS / "h_of_epsilon.svg", media_type="image/svg+xml")


@router.get("/c/{slug}/starter/{name}")
def starter_kit(slug: str, name: str, db: DbSession) -> FileResponse:
    competitions.get_competition(db, slug)
    if name not in STARTER_KIT:
        raise not_found(f"Starter file {name!r}")
    return FileResponse(EXAMPLES / name, media_type=STARTER_KIT[name], filename=name)


@router.get("/c/{slug}/validity", response_class=HTMLResponse)
def validity_page(
    slug: str, request: Request, db: DbSession, settings: AppSettings
) -> HTMLResponse:
    """The validity report with its figures (organizers; everyone after the close)."""
    user = page_user(request, db)
    comp = competitions.get_visible(db, slug, user)
    report = validity.report_of(db, user, comp)
    view = competitions.public_view(db, comp, user, settings)
    return render(
        request,
        "validity.html",
        {"c": view, "r": report, "tab": "validity", "charts": validity_charts},
        user,
    )
