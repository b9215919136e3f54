"""The FastAPI application: API under /api/v1, public pages, static files."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from core.settings import get_settings
from server import errors
from server.api import openapi
from server.api.body_cap import BodyCap
from server.api.routes import (
    accounts,
    bundles,
    competitions,
    organizing,
    submissions,
    system,
    teams,
)
from server.leaderboard.hot import HotBoards
from server.web.common import FRONTEND, error_page
from server.web.pages import router as pages

API_PREFIX = "/api/v1"


def create_app() -> FastAPI:
    app = FastAPI(
        title="Unlearning Arena",
        version="0.1.0",
        description="Machine-unlearning competitions: submit `unlearning(net, retain_loader, forget_loader, val_loader)`.",
    )
    errors.install(app)
    openapi.install(app)
    for router in (
        accounts.router,
        competitions.router,
        bundles.router,
        organizing.router,
        teams.router,
        submissions.router,
        system.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(
        system.router, include_in_schema=False
    )  # /health, /metrics at the root for probes
    app.include_router(pages)
    app.mount("/static", StaticFiles(directory=str(FRONTEND / "static")), name="static")
    app.state.html_errors = error_page  # pages answer errors as pages, the API as JSON
    app.add_middleware(HotBoards)  # fresh anonymous public boards, sent from memory
    app.add_middleware(BodyCap, settings=get_settings())  # outermost: before any body is read
    return app


app = create_app()
