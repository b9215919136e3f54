"""POST /users and POST /tokens."""

from __future__ import annotations

from fastapi import APIRouter

from server.api.deps import CurrentUser, DbSession
from server.schemas import TokenRequest, TokenResponse, UserCreate, UserPublic
from server.services import users

router = APIRouter(tags=["accounts"])


@router.post("/users", status_code=201, response_model=UserPublic)
def register(body: UserCreate, db: DbSession) -> UserPublic:
    user = users.create_user(db, body.username, body.password)
    return UserPublic.model_validate(user, from_attributes=True)


@router.post("/tokens", response_model=TokenResponse)
def login(body: TokenRequest, db: DbSession) -> TokenResponse:
    return TokenResponse(token=users.issue_token(db, body.username, body.password))


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)
