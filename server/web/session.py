"""Browser sessions and CSRF protection.

A logged-in browser holds an API token in an HttpOnly cookie (``arena_session``), issued and
revoked like any other token. CSRF uses the double-submit pattern: a random ``arena_csrf``
cookie whose value every state-changing request repeats, as the form field ``csrf`` (forms)
or the header ``X-CSRF-Token`` (scripts calling the API). Another site can make the browser
send the cookies but cannot read them, so it cannot repeat the value.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response

from core.errors import Forbidden

SESSION_COOKIE = "arena_session"
CSRF_COOKIE = "arena_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_AGE = 30 * 24 * 3600


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def csrf_value(request: Request) -> str:
    """The request's CSRF value (a new one when the browser has none yet)."""
    value = request.cookies.get(CSRF_COOKIE)
    if not value:
        value = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(24)
        request.state.new_csrf = value
    return value


def ensure_csrf_cookie(request: Request, response: Response) -> None:
    if CSRF_COOKIE not in request.cookies:
        response.set_cookie(
            CSRF_COOKIE, csrf_value(request), max_age=MAX_AGE, samesite="strict", path="/"
        )


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise Forbidden(
            "The form's security token is missing or stale (CSRF check). Reload the page and try again.",
        )


def set_session(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
