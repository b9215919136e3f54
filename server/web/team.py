"""The team page of a competition: your team and its members, invitations to you; create,
invite by username, accept, leave. Forms post here and the page shows what happened."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from core.errors import DomainError, Invalid
from server.api.deps import AppSettings, DbSession
from server.errors import http_status
from server.services import competitions, teams
from server.web.common import page_user, redirect, render
from server.web.session import check_csrf

router = APIRouter()


@router.get("/c/{slug}/team", response_class=HTMLResponse)
def team_page(slug: str, request: Request, db: DbSession, settings: AppSettings):
    user = page_user(request, db)
    if user is None:
        return redirect(f"/login?next=/c/{slug}/team")
    return _page(request, db, settings, slug, user)


@router.post("/c/{slug}/team", response_class=HTMLResponse)
def team_action(
    slug: str,
    request: Request,
    db: DbSession,
    settings: AppSettings,
    csrf: str = Form(""),
    action: str = Form(""),
    name: str = Form(""),
    username: str = Form(""),
    team_id: int = Form(0),
):
    """create (name), invite (username), accept (team_id) or leave (team_id)."""
    check_csrf(request, csrf)
    user = page_user(request, db)
    if user is None:
        return redirect(f"/login?next=/c/{slug}/team")
    comp = competitions.get_visible(db, slug, user)
    try:
        notice = _act(db, comp, user, action, name.strip(), username.strip(), team_id)
    except DomainError as exc:
        return _page(request, db, settings, slug, user, error=exc.detail, status=http_status(exc))
    return _page(request, db, settings, slug, user, notice=notice)


def _act(db, comp, user, action: str, name: str, username: str, team_id: int) -> str:
    if action == "create":
        if not 2 <= len(name) <= 64:
            raise Invalid("A team name has 2 to 64 characters.")
        return f"Team {teams.create_team(db, comp, user, name).name!r} created."
    if action == "invite":
        teams.invite(db, team_id, user, username)
        return f"{username!r} is invited; they accept on this page."
    if action == "accept":
        return f"You joined {teams.accept(db, team_id, user).name!r}."
    if action == "leave":
        teams.leave(db, team_id, user)
        return "You left the team."
    raise Invalid(f"Unknown action {action!r}: create, invite, accept or leave.")


def _page(request, db, settings, slug: str, user, status: int = 200, **extra) -> HTMLResponse:
    comp = competitions.get_visible(db, slug, user)
    team = teams.team_of(db, comp, user)
    context = {
        "c": competitions.public_view(db, comp, user, settings),
        "tab": "team",
        "team": teams.team_view(db, team) if team is not None else None,
        "invitations": [teams.team_view(db, t) for t in teams.pending_invites(db, comp, user)],
        **extra,
    }
    return render(request, "team.html", context, user, status)
