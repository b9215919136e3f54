"""From failures to readable replies: domain errors to HTTP statuses, and every other failure.

A client always gets ``{"detail": "<what is wrong and how to fix it>"}``: validation errors
are flattened to one sentence per field, database outages become 503 with Retry-After, and
anything unexpected is a 500 without a traceback (which goes to the log).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import (
    BadRequest,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotAuthenticated,
    NotFound,
    RateLimited,
    TooLarge,
    Unavailable,
    UnsupportedType,
)

log = logging.getLogger(__name__)


HTTP_STATUS: dict[type[DomainError], int] = {
    BadRequest: 400,
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedType: 415,
    Invalid: 422,
    RateLimited: 429,
    Unavailable: 503,
}


def http_status(exc: DomainError) -> int:
    """The HTTP status of a domain error: the one mapping from refusals to status codes."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 400


def _headers(exc: DomainError) -> dict[str, str] | None:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, NotAuthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    return headers or None


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


async def _domain_error(request: Request, exc: DomainError):
    status = http_status(exc)
    html = getattr(request.app.state, "html_errors", None)
    if html is not None and _wants_page(request):
        if status == 401 and request.method == "GET":
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return html(request, status, exc.detail)
    return JSONResponse(
        {"detail": exc.detail, **exc.extra}, status_code=status, headers=_headers(exc)
    )


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": describe_validation(exc)}, status_code=422)


async def _http(request: Request, exc: StarletteHTTPException):
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    html = getattr(request.app.state, "html_errors", None)
    if html is not None and _wants_page(request):
        return html(request, exc.status_code, detail)
    return JSONResponse(
        {"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
    log.warning("database unavailable: %s", exc)
    return JSONResponse(
        {"detail": "The database is unavailable right now; please retry in a few seconds."},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _overflow(_: Request, exc: OverflowError) -> JSONResponse:
    return JSONResponse(
        {"detail": "A number in the request is out of range; use a smaller value."},
        status_code=422,
    )


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
    return JSONResponse({"detail": "Internal error (logged for the operators)."}, status_code=500)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse({"detail": "Internal error (logged for the operators)."}, status_code=500)


HANDLERS = (
    (DomainError, _domain_error),
    (RequestValidationError, _validation),
    (StarletteHTTPException, _http),
    (OperationalError, _db_down),
    (OverflowError, _overflow),
    (DBAPIError, _db_error),
    (Exception, _unexpected),
)


def install(app: FastAPI) -> None:
    """Every failure becomes ``{"detail": ...}`` (or, for a browser, an error page)."""
    for exc_class, handler in HANDLERS:
        app.add_exception_handler(exc_class, handler)
