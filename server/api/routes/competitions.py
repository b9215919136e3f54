"""Competitions and their public leaderboards."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from server.api.deps import AppSettings, DbSession, OptionalUser
from server.errors import ApiError
from server.schemas import CompetitionPublic, Leaderboard
from server.services import competitions
from server.services.leaderboard import build_leaderboard

router = APIRouter(tags=["competitions"])


@router.get("/competitions", response_model=list[CompetitionPublic])
def list_competitions(
    db: DbSession, user: OptionalUser, settings: AppSettings
) -> list[CompetitionPublic]:
    return [
        competitions.public_view(db, c, user, settings) for c in competitions.list_competitions(db)
    ]


@router.get("/competitions/{slug}", response_model=CompetitionPublic)
def get_competition(
    slug: str, db: DbSession, user: OptionalUser, settings: AppSettings
) -> CompetitionPublic:
    return competitions.public_view(db, competitions.get_competition(db, slug), user, settings)


@router.get("/competitions/{slug}/leaderboard", response_model=Leaderboard)
def leaderboard(
    slug: str, db: DbSession, board: Literal["public", "private"] = Query("public")
) -> Leaderboard:
    comp = competitions.get_competition(db, slug)
    if board == "private":
        raise ApiError(403, "The private leaderboard is published after the competition closes.")
    return build_leaderboard(db, comp)
