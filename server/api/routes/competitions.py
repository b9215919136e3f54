"""Competitions, their rules and their leaderboards (public; private after the close)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from core.db import get_sessionmaker
from core.validity import ValidityReport
from server.api.deps import AppSettings, CurrentUser, DbSession, OptionalUser, optional_user
from server.api.paging import Page
from server.leaderboard import builder as board_builder
from server.leaderboard import hot
from server.leaderboard.board import Sort, leaderboard_json
from server.schemas import CompetitionCompute, CompetitionPublic, Leaderboard
from server.services import competitions, compute, submissions, validity
from server.services.access import manages
from server.services.teams import entrant_of
from server.web.session import SESSION_COOKIE

router = APIRouter(tags=["competitions"])


@router.get("/competitions", response_model=list[CompetitionPublic])
def list_competitions(
    db: DbSession, user: OptionalUser, settings: AppSettings, page: Page
) -> list[CompetitionPublic]:
    """The competitions you can see (paged: X-Total-Count, Link)."""
    return [
        competitions.public_view(db, c, user, settings)
        for c in page.apply(competitions.list_competitions(db, user))
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


@router.get("/competitions/{slug}/compute", response_model=CompetitionCompute)
def compute_totals(slug: str, db: DbSession, user: CurrentUser) -> CompetitionCompute:
    """Device-seconds spent: organizers get the competition's totals (preparation and every
    participant or team); a participant gets their own (or their team's)."""
    comp = competitions.get_visible(db, slug, user)
    if manages(db, user, comp):
        return compute.competition_compute(db, comp)
    return compute.competition_compute(db, comp, only=entrant_of(db, comp, user))


@router.get(
    "/competitions/{slug}/leaderboard",
    response_model=Leaderboard,
    responses={200: {"content": {"application/json": {}}}},
)
async def leaderboard(
    slug: str,
    request: Request,
    board: Literal["public", "private"] = Query("public"),
    phase: str | None = Query(None, description="The phase's leaderboard (default: current)."),
    sort: Sort = Query("score", description="score (ranked), avg_gap, mia_gap or rf_jsd."),
    page: int = Query(1, ge=1, le=100_000),
    per_page: int = Query(50, ge=1, le=500),
) -> Response:
    """The leaderboard. Anonymous reads of a public board are answered from memory while the
    cached board is fresh (no database, no thread): the page everyone refreshes stays cheap."""
    anonymous = "authorization" not in request.headers and SESSION_COOKIE not in request.cookies
    shared = hot.cacheable(anonymous, board)
    key = hot.public_key(slug, phase, sort, page, per_page)
    args = (slug, board, phase, sort, page, per_page)
    if shared:
        body = hot.from_cache(
            key,
            lambda: board_builder.rebuild(slug, phase, sort, page, per_page),
            lambda: _leaderboard_body(request, *args),
        )
        if body is not None:
            return Response(body, media_type="application/json")
    body, comp_id = await run_in_threadpool(_leaderboard_body, request, *args)
    if shared:
        hot.remember(key, body, comp_id)
    return Response(body, media_type="application/json")


def _leaderboard_body(
    request: Request, slug: str, board, phase, sort, page: int, per_page: int
) -> tuple[bytes, int]:
    session = get_sessionmaker()()
    try:
        user = optional_user(request, session)
        comp = competitions.get_visible(session, slug, user)
        body = leaderboard_json(
            session, comp, phase, board, user, sort=sort, page=page, per_page=per_page
        )
        return body, comp.id
    finally:
        session.close()


@router.get("/competitions/{slug}/validity", response_model=ValidityReport)
def validity_report(slug: str, db: DbSession, user: OptionalUser) -> ValidityReport:
    """How far the boards can be trusted: what retraining scores against itself over many
    splits of the references (per board), the N a difference in F needs, and, after the close,
    the agreement of the public and private boards, of the two N and of the two rule families,
    and the secondary metrics' rank correlations (docs/metric.md, "Reading the validity
    report"). Organizers always; everyone after the close or when `validity.public` is set."""
    comp = competitions.get_visible(db, slug, user)
    return validity.report_of(db, user, comp)


@router.post("/competitions/{slug}/validity", status_code=202)
def refresh_validity_report(slug: str, db: DbSession, user: CurrentUser) -> dict[str, object]:
    """Queue a fresh validity report (organizers); it replaces the last one when done."""
    comp = competitions.get_visible(db, slug, user)
    return validity.request_report(db, user, comp)
