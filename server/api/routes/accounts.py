"""POST /users and POST /tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request

from server.api.deps import CurrentUser, DbSession, RowId
from server.schemas import TokenInfo, TokenRequest, TokenResponse, UserCreate, UserPublic
from server.services import users

router = APIRouter(tags=["accounts"])


@router.post("/users", status_code=201, response_model=UserPublic)
def register(body: UserCreate, db: DbSession) -> UserPublic:
    user = users.create_user(db, body.username, body.password)
    return UserPublic.model_validate(user, from_attributes=True)


@router.post("/tokens", response_model=TokenResponse)
def login(body: TokenRequest, request: Request, db: DbSession) -> TokenResponse:
    client = request.client.host if request.client else None
    return TokenResponse(token=users.issue_token(db, body.username, body.password, client))


@router.get("/tokens", response_model=list[TokenInfo])
def my_tokens(db: DbSession, user: CurrentUser) -> list[TokenInfo]:
    """Your API tokens (never the secret itself, which is stored only hashed)."""
    return [TokenInfo.model_validate(t, from_attributes=True) for t in users.list_tokens(db, user)]


@router.delete("/tokens/{token_id}", response_model=TokenInfo)
def revoke(token_id: RowId, db: DbSession, user: CurrentUser) -> TokenInfo:
    """Revoke one of your tokens; it stops working at once."""
    return TokenInfo.model_validate(users.revoke_token(db, user, token_id), from_attributes=True)


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)
