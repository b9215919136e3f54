"""Accounts and their API tokens: register, log in (a token), list, revoke, log out."""

from __future__ import annotations

from fastapi import APIRouter, Request

from core.models import ApiToken
from server.api.deps import BearerToken, CurrentUser, DbSession, RowId
from server.api.paging import Page
from server.schemas import TokenInfo, TokenRequest, TokenResponse, UserCreate, UserPublic
from server.services import users

router = APIRouter(tags=["accounts"])


@router.post("/users", status_code=201, response_model=UserPublic)
def register(body: UserCreate, db: DbSession) -> UserPublic:
    user = users.create_user(db, body.username, body.password)
    return UserPublic.model_validate(user, from_attributes=True)


def _info(token: ApiToken) -> TokenInfo:
    info = TokenInfo.model_validate(token, from_attributes=True)
    info.expires_at = users.token_expires_at(token)
    return info


@router.post("/tokens", response_model=TokenResponse)
def login(body: TokenRequest, request: Request, db: DbSession) -> TokenResponse:
    """A new API token (it expires after ``ARENA_TOKEN_DAYS`` days, 90 by default)."""
    client = request.client.host if request.client else None
    token = users.issue_token(db, body.username, body.password, client)
    return TokenResponse(token=token, expires_at=users.expiry_of(db, token))


@router.get("/tokens", response_model=list[TokenInfo])
def my_tokens(db: DbSession, user: CurrentUser, page: Page) -> list[TokenInfo]:
    """Your API tokens, never the secret itself, which is stored only hashed (paged)."""
    return [_info(t) for t in page.apply(users.list_tokens(db, user))]


@router.delete("/tokens/current", response_model=TokenInfo)
def log_out(db: DbSession, token: BearerToken) -> TokenInfo:
    """Revoke the token this request carries (`arena logout`)."""
    return _info(users.revoke_current_token(db, token))


@router.delete("/tokens/{token_id}", response_model=TokenInfo)
def revoke(token_id: RowId, db: DbSession, user: CurrentUser) -> TokenInfo:
    """Revoke one of your tokens; it stops working at once."""
    return _info(users.revoke_token(db, user, token_id))


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)
