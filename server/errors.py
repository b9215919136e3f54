"""Errors the services raise, and the handlers that turn every failure into a readable JSON reply.

A client always gets ``{"detail": "<what is wrong and how to fix it>"}``: validation errors
are flattened to one sentence per field, database outages become 503 with Retry-After, and
anything unexpected is a 500 without a traceback (which goes to the log).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self,
        status_code: int,
        detail: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code, self.detail, self.headers = status_code, detail, headers
        self.extra = extra or {}


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def describe_validation(exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors():
        msg = err.get("msg", "invalid")
        if err.get("type") == "missing":
            msg = "is required"
        elif err.get("type") == "json_invalid":
            return "The request body is not valid JSON."
        problems.append(f"{_field(tuple(err.get('loc', ())))}: {msg}")
    return "; ".join(problems) or "The request is invalid."


def _wants_page(request: Request) -> bool:
    """A browser page (not the API, not a script asking for JSON)."""
    path = request.url.path
    if path.startswith(("/api/", "/metrics", "/health", "/static/")):
        return False
    return "application/json" not in request.headers.get("accept", "")


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        html = getattr(request.app.state, "html_errors", None)
        if html is not None and _wants_page(request):
            if exc.status_code == 401 and request.method == "GET":
                return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
            return html(request, exc.status_code, exc.detail)
        return JSONResponse(
            {"detail": exc.detail, **exc.extra}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": describe_validation(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        html = getattr(request.app.state, "html_errors", None)
        if html is not None and _wants_page(request):
            return html(request, exc.status_code, detail)
        return JSONResponse(
            {"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return JSONResponse(
            {"detail": "The database is unavailable right now; please retry in a few seconds."},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, exc: OverflowError) -> JSONResponse:
        return JSONResponse(
            {"detail": "A number in the request is out of range; use a smaller value."},
            status_code=422,
        )

    @app.exception_handler(DBAPIError)
    async def _db_error(_: Request, exc: DBAPIError) -> JSONResponse:
        if isinstance(exc, DataError):
            return JSONResponse(
                {"detail": "A value in the request does not fit the database (out of range?)."},
                status_code=422,
            )
        if exc.connection_invalidated:
            return JSONResponse(
                {"detail": "The database connection was lost; please retry."},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        log.exception("database error", exc_info=exc)
        return JSONResponse(
            {"detail": "Internal error (logged for the operators)."}, status_code=500
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            {"detail": "Internal error (logged for the operators)."}, status_code=500
        )
