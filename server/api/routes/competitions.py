"""Competitions, their rules and their leaderboards (public; private after the close)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Response

from server.api.deps import AppSettings, CurrentUser, DbSession, OptionalUser
from server.schemas import CompetitionPublic, Leaderboard
from server.services import competitions, submissions
from server.services.leaderboard import Sort, leaderboard_json

router = APIRouter(tags=["competitions"])


@router.get("/competitions", response_model=list[CompetitionPublic])
def list_competitions(
    db: DbSession, user: OptionalUser, settings: AppSettings
) -> list[CompetitionPublic]:
    return [
        competitions.public_view(db, c, user, settings)
        for c in competitions.list_competitions(db, user)
    ]


@router.get("/competitions/{slug}", response_model=CompetitionPublic)
def get_competition(
    slug: str, db: DbSession, user: OptionalUser, settings: AppSettings
) -> CompetitionPublic:
    return competitions.public_view(db, competitions.get_visible(db, slug, user), user, settings)


@router.post("/competitions/{slug}/rules/accept")
def accept_rules(slug: str, db: DbSession, user: CurrentUser) -> dict[str, object]:
    """Accept the competition's rules (needed once, before your first submission)."""
    comp = competitions.get_competition(db, slug)
    submissions.accept_rules(db, comp, user)
    return {"competition": slug, "accepted": True}


@router.get(
    "/competitions/{slug}/leaderboard",
    response_model=Leaderboard,
    responses={200: {"content": {"application/json": {}}}},
)
def leaderboard(
    slug: str,
    db: DbSession,
    user: OptionalUser,
    board: Literal["public", "private"] = Query("public"),
    phase: str | None = Query(None, description="The phase's leaderboard (default: current)."),
    sort: Sort = Query("score", description="score (ranked), avg_gap, mia_gap or rf_jsd."),
    page: int = Query(1, ge=1, le=100_000),
    per_page: int = Query(50, ge=1, le=500),
) -> Response:
    comp = competitions.get_visible(db, slug, user)
    body = leaderboard_json(db, comp, phase, board, user, sort=sort, page=page, per_page=per_page)
    return Response(body, media_type="application/json")
