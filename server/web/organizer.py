"""Organizers' pages: create a competition from YAML (problems shown next to their lines),
upload the dataset with progress, prepare and watch it, open/close, rescore, audit log, CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import or_, select

from core.config_file import ConfigInvalid, dump_config, parse_config_text, problems_by_line
from core.errors import DomainError, NotAuthenticated
from core.models import Competition, CompetitionOrganizer, Role, User
from server.api.deps import AppSettings, AppStorage, DbSession
from server.errors import http_status
from server.leaderboard.export import board_csv
from server.services import audit, competitions, compute, datasets, organizing
from server.services.access import can_create_competitions, require_creator, require_manager
from server.web.common import page_user, redirect, render
from server.web.session import check_csrf

router = APIRouter(include_in_schema=False)
EXAMPLE = (
    Path(__file__).resolve().parent.parent.parent
    / "examples"
    / "competitions"
    / "digits-demo"
    / "competition.yaml"
)


def _organizer(request: Request, db) -> User:
    user = page_user(request, db)
    if user is None:
        raise NotAuthenticated("Log in first (organizer pages).")
    return user


def _mine(db, user: User) -> list[Competition]:
    query = select(Competition).order_by(Competition.created_at.desc())
    if user.role != Role.ADMIN:
        co = select(CompetitionOrganizer.competition_id).where(
            CompetitionOrganizer.user_id == user.id
        )
        query = query.where(or_(Competition.owner_id == user.id, Competition.id.in_(co)))
    return list(db.scalars(query))


def _rejection(exc: ConfigInvalid | DomainError) -> tuple[list[str], int]:
    """The problems to show under the editor, and the status to answer with."""
    if isinstance(exc, ConfigInvalid):
        return exc.problems, 422
    return [exc.detail], http_status(exc)


def _editor(text: str, problems: list[str]) -> dict:
    by_line = problems_by_line(text, problems)
    lines = [(i + 1, line, by_line.get(i + 1, [])) for i, line in enumerate(text.splitlines())]
    return {"text": text, "lines": lines, "general": by_line.get(None, []), "problems": problems}


@router.get("/organize", response_class=HTMLResponse)
def organize(request: Request, db: DbSession, settings: AppSettings):
    user = page_user(request, db)
    if user is None:
        return redirect("/login?next=/organize")
    views = [competitions.public_view(db, c, user, settings) for c in _mine(db, user)]
    example = EXAMPLE.read_text().replace("slug: digits-demo", "slug: my-competition")
    return render(
        request,
        "organize.html",
        {
            "comps": views,
            "can_create": can_create_competitions(user),
            "editor": _editor(example, []),
        },
        user,
    )


@router.post("/organize/new", response_class=HTMLResponse)
def create(
    request: Request,
    db: DbSession,
    settings: AppSettings,
    csrf: str = Form(""),
    config: str = Form(""),
):
    check_csrf(request, csrf)
    user = _organizer(request, db)
    require_creator(user)  # before the file is parsed
    try:
        comp = organizing.create(db, user, parse_config_text(config))
    except (ConfigInvalid, DomainError) as exc:
        problems, status = _rejection(exc)
        views = [competitions.public_view(db, c, user, settings) for c in _mine(db, user)]
        return render(
            request,
            "organize.html",
            {
                "comps": views,
                "can_create": can_create_competitions(user),
                "editor": _editor(config, problems),
            },
            user,
            status,
        )
    return redirect(f"/organize/{comp.slug}")


def _manage_context(db, comp: Competition, user: User, settings, editor=None) -> dict:
    require_manager(db, user, comp, "manage it")
    cfg = competitions.config_of(comp)
    try:
        dataset = datasets.dataset_info(db, user, comp)
    except DomainError:
        dataset = None
    return {
        "c": competitions.public_view(db, comp, user, settings),
        "cfg": cfg,
        "dataset": dataset,
        "audit": audit.entries(db, comp, limit=100),
        "organizers": organizing.organizers(db, comp),
        "compute": compute.competition_compute(db, comp),
        "editor": editor or _editor(dump_config(cfg), []),
    }


@router.get("/organize/{slug}", response_class=HTMLResponse)
def manage(slug: str, request: Request, db: DbSession, settings: AppSettings):
    user = page_user(request, db)
    if user is None:
        return redirect(f"/login?next=/organize/{slug}")
    comp = competitions.get_competition(db, slug)
    context = _manage_context(db, comp, user, settings)
    template = (
        "_organize_status.html"
        if request.headers.get("hx-request")
        else "organize_competition.html"
    )
    return render(request, template, context, user)


@router.post("/organize/{slug}/config", response_class=HTMLResponse)
def update_config(
    slug: str,
    request: Request,
    db: DbSession,
    settings: AppSettings,
    csrf: str = Form(""),
    config: str = Form(""),
):
    check_csrf(request, csrf)
    user = _organizer(request, db)
    comp = competitions.get_competition(db, slug)
    require_manager(db, user, comp, "change its settings")  # before the file is parsed
    try:
        organizing.update_config(db, user, comp, parse_config_text(config))
    except (ConfigInvalid, DomainError) as exc:
        problems, status = _rejection(exc)
        context = _manage_context(db, comp, user, settings, _editor(config, problems))
        return render(request, "organize_competition.html", context, user, status)
    return redirect(f"/organize/{slug}")


@router.post("/organize/{slug}/{action}")
def lifecycle(
    slug: str,
    action: Literal["prepare", "open", "close", "rescore"],
    request: Request,
    db: DbSession,
    storage: AppStorage,
    csrf: str = Form(""),
    rerun: str = Form(""),
):
    check_csrf(request, csrf)
    user = _organizer(request, db)
    comp = competitions.get_competition(db, slug)
    if action == "prepare":
        organizing.prepare(db, user, comp)
    elif action == "open":
        organizing.open_competition(db, user, comp)
    elif action == "close":
        organizing.close_competition(db, user, comp)
    else:
        organizing.rescore(db, storage, user, comp, rerun=rerun == "on")
    return redirect(f"/organize/{slug}")


@router.get("/organize/{slug}/leaderboard.csv")
def export(
    slug: str, request: Request, db: DbSession, board: Literal["public", "private"] = "public"
):
    user = _organizer(request, db)
    comp = competitions.get_competition(db, slug)
    require_manager(db, user, comp, "export its leaderboard")
    return Response(
        board_csv(db, comp, None, board, user),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{slug}-{board}.csv"'},
    )
