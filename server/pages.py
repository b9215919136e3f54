"""Public HTML pages (home, competition with leaderboard), rendered from the same services as the API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from server.api.deps import AppSettings, DbSession
from server.services import competitions
from server.services.leaderboard import build_leaderboard

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
templates = Jinja2Templates(directory=str(FRONTEND / "templates"))
router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: DbSession, settings: AppSettings) -> HTMLResponse:
    comps = [
        competitions.public_view(db, c, None, settings) for c in competitions.list_competitions(db)
    ]
    return templates.TemplateResponse(request, "home.html", {"competitions": comps})


@router.get("/c/{slug}", response_class=HTMLResponse)
def competition(slug: str, request: Request, db: DbSession, settings: AppSettings) -> HTMLResponse:
    comp = competitions.get_competition(db, slug)
    view = competitions.public_view(db, comp, None, settings)
    board = build_leaderboard(db, comp)
    return templates.TemplateResponse(request, "competition.html", {"c": view, "board": board})
