"""Accounts and API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import Conflict, Invalid, NotAuthenticated, NotFound, RateLimited
from core.models import ApiToken, LoginFailure, Role, User, utcnow
from core.settings import get_settings
from server.security import hash_password, new_token, token_digest, verify_password


def create_user(
    session: Session, username: str, password: str, role: Role = Role.PARTICIPANT
) -> User:
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"The username {username!r} is taken; choose another.")
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"The username {username!r} is taken; choose another.") from None
    return user


def issue_token(
    session: Session, username: str, password: str, client_ip: str | None = None
) -> str:
    check_login_rate(session, username, client_ip)
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not verify_password(user.password_hash, password):
        session.add(LoginFailure(username=username[:64], address=(client_ip or "")[:64] or None))
        session.commit()
        raise NotAuthenticated("Wrong username or password.")
    token, digest = new_token()
    session.add(
        ApiToken(user_id=user.id, token_hash=digest, created_ip=(client_ip or "")[:64] or None)
    )
    session.commit()
    return token


def expiry_of(session: Session, token: str) -> datetime | None:
    """When a live token stops working (None: unknown or revoked)."""
    row = _live_token(session, token)
    return token_expires_at(row) if row is not None else None


LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 10
MAX_FAILURES_PER_ADDRESS = 50


def check_login_rate(session: Session, username: str, client_ip: str | None) -> None:
    """429 after too many failed logins in 15 minutes, for the username or the address."""
    since = utcnow() - LOGIN_WINDOW
    recent = select(func.count(LoginFailure.id)).where(LoginFailure.at >= since)
    by_user = session.scalar(recent.where(LoginFailure.username == username)) or 0
    by_address = (
        session.scalar(recent.where(LoginFailure.address == client_ip)) or 0 if client_ip else 0
    )
    if by_user >= MAX_FAILURES_PER_USER or by_address >= MAX_FAILURES_PER_ADDRESS:
        raise RateLimited(
            "Too many failed logins; wait 15 minutes and try again.",
            retry_after=int(LOGIN_WINDOW.total_seconds()),
        )


MIN_PASSWORD = 8


def _new_password_hash(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= 256:
        raise Invalid(f"password: at least {MIN_PASSWORD} characters (and at most 256).")
    return hash_password(password)


def change_password(
    session: Session, user: User, current: str, new: str, keep_token: str | None = None
) -> int:
    """Change one's own password (the current one first); every other token and session is
    revoked. Returns how many were."""
    if not verify_password(user.password_hash, current):
        raise NotAuthenticated("The current password is wrong; the password is unchanged.")
    user.password_hash = _new_password_hash(new)
    return _revoke_all(session, user, keep_token)


def reset_password(session: Session, username: str, new: str) -> int:
    """An admin sets someone's password (`arena admin set-password`); their tokens and
    sessions are all revoked. Returns how many were."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user {username!r}.")
    user.password_hash = _new_password_hash(new)
    return _revoke_all(session, user, None)


def _revoke_all(session: Session, user: User, keep_token: str | None) -> int:
    keep = token_digest(keep_token) if keep_token else None
    revoked = 0
    for token in list_tokens(session, user):
        if token.revoked_at is None and token.token_hash != keep:
            token.revoked_at = utcnow()
            revoked += 1
    session.commit()
    return revoked


def set_role(session: Session, username: str, role: Role) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user {username!r}.")
    user.role = role
    session.commit()
    return user


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
        ).all()
    )


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(f"Token {token_id} not found among your tokens.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.commit()
    return token


def token_expires_at(token: ApiToken) -> datetime:
    """When a token stops working: ``token_days`` after it was made (sessions too)."""
    return token.created_at + timedelta(days=get_settings().token_days)


def user_for_token(session: Session, token: str) -> User | None:
    """The token's user; None when it is unknown or revoked; NotAuthenticated once expired."""
    row = _live_token(session, token)
    if row is None:
        return None
    row.last_used_at = utcnow()
    session.commit()
    return row.user


def _live_token(session: Session, token: str) -> ApiToken | None:
    row = session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == token_digest(token), ApiToken.revoked_at.is_(None)
        )
    )
    if row is not None and token_expires_at(row) <= utcnow():
        raise NotAuthenticated(
            f"This token expired on {token_expires_at(row):%Y-%m-%d} (tokens last "
            f"{get_settings().token_days} days); log in again: `arena login USERNAME` or "
            "POST /api/v1/tokens."
        )
    return row


def revoke_current_token(session: Session, token: str) -> ApiToken:
    """Revoke the token this request was made with (`arena logout`)."""
    row = _live_token(session, token)
    if row is None:
        raise NotAuthenticated("The token is unknown or revoked already.")
    row.revoked_at = utcnow()
    session.commit()
    return row
