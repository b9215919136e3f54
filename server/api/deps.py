"""Dependencies: the request's Session, settings, storage, and the calling user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from core.db import get_sessionmaker
from core.errors import NotAuthenticated
from core.models import User
from core.settings import Settings, get_settings
from core.storage import Storage
from server.services.users import user_for_token
from server.web.session import CSRF_HEADER, SAFE_METHODS, check_csrf, session_token


def get_db() -> Iterator[Session]:
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


def get_storage(settings: Annotated[Settings, Depends(get_settings)]) -> Storage:
    return Storage(settings)


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated(
            "Send the token as 'Authorization: Bearer <token>' (get one from POST /api/v1/tokens).",
        )
    return token.strip()


# Declares the scheme in OpenAPI (the docs page's Authorize button); the header itself is read
# below, so that a malformed one gets a 401 that says how to send it.
HTTP_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token from POST /api/v1/tokens (`arena login`).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(HTTP_BEARER)]


def optional_user(
    request: Request, db: Annotated[Session, Depends(get_db)], _: Credentials = None
) -> User | None:
    token = _bearer(request.headers.get("authorization"))
    if token is None:
        token = session_token(request)  # a logged-in browser
        if token is None:
            return None
        if request.method not in SAFE_METHODS:
            check_csrf(request, request.headers.get(CSRF_HEADER))
        user = user_for_token(db, token)
        if user is None:
            raise NotAuthenticated("Your session has ended; log in again.")
        return user
    user = user_for_token(db, token)
    if user is None:
        raise NotAuthenticated(
            "The token is unknown or revoked; get a new one from POST /api/v1/tokens.",
        )
    return user


def bearer_token(request: Request, _: Credentials = None) -> str:
    """The bearer token the request carries (not a browser session's)."""
    token = _bearer(request.headers.get("authorization"))
    if token is None:
        raise NotAuthenticated(
            "Send the token as 'Authorization: Bearer <token>' (get one from POST /api/v1/tokens).",
        )
    return token


def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise NotAuthenticated(
            "Log in first: send 'Authorization: Bearer <token>' (get one from POST /api/v1/tokens).",
        )
    return user


# Row ids in paths: positive and within a 32-bit integer column on every database.
RowId = Annotated[int, Path(ge=1, le=2_147_483_647, description="A row id.")]

DbSession = Annotated[Session, Depends(get_db)]
CurrentUser = Annotated[User, Depends(current_user)]
BearerToken = Annotated[str, Depends(bearer_token)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
AppSettings = Annotated[Settings, Depends(get_settings)]
AppStorage = Annotated[Storage, Depends(get_storage)]
