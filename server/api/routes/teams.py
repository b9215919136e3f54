"""Teams: create, invite by username, accept (merging), leave."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from server.api.deps import CurrentUser, DbSession, RowId
from server.services import competitions, teams

router = APIRouter(tags=["teams"])


class TeamCreate(BaseModel):
    name: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9 _.-]+$")


class Invite(BaseModel):
    username: str = Field(min_length=1, max_length=64)


@router.post("/competitions/{slug}/teams", status_code=201)
def create_team(slug: str, body: TeamCreate, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    comp = competitions.get_competition(db, slug)
    return teams.team_view(db, teams.create_team(db, comp, user, body.name.strip()))


@router.get("/competitions/{slug}/team")
def my_team(slug: str, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    """Your team in this competition (null when you compete alone) and your invitations."""
    comp = competitions.get_competition(db, slug)
    team = teams.team_of(db, comp, user)
    return {
        "team": teams.team_view(db, team) if team is not None else None,
        "invitations": [teams.team_view(db, t) for t in teams.pending_invites(db, comp, user)],
    }


@router.post("/teams/{team_id}/invites", status_code=201)
def invite(team_id: RowId, body: Invite, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    inv = teams.invite(db, team_id, user, body.username)
    return teams.team_view(db, inv.team)


@router.post("/teams/{team_id}/accept")
def accept(team_id: RowId, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    return teams.team_view(db, teams.accept(db, team_id, user))


@router.post("/teams/{team_id}/leave")
def leave(team_id: RowId, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    teams.leave(db, team_id, user)
    return {"left": team_id}
