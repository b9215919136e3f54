"""Register, log in, log out (session cookie), and the API tokens page."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from core.errors import DomainError, NotAuthenticated
from server.api.deps import DbSession, RowId
from server.errors import http_status
from server.schemas import UserCreate
from server.security import token_digest
from server.services import users
from server.web.common import page_user, redirect, render
from server.web.session import check_csrf, clear_session, session_token, set_session

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, db: DbSession, next: str | None = None) -> HTMLResponse:
    return render(
        request, "login.html", {"next": _safe_next(next), "error": None}, page_user(request, db)
    )


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    db: DbSession,
    username: str = Form(""),
    password: str = Form(""),
    csrf: str = Form(""),
    next: str = Form("/"),
):
    check_csrf(request, csrf)
    try:
        client = request.client.host if request.client else None
        token = users.issue_token(db, username.strip(), password, client)
    except DomainError as exc:
        return render(
            request,
            "login.html",
            {"next": _safe_next(next), "error": exc.detail, "username": username},
            None,
            401,
        )
    response = redirect(_safe_next(next))
    set_session(response, token, secure=request.url.scheme == "https")
    return response


@router.get("/register", response_class=HTMLResponse)
def register_form(request: Request, db: DbSession) -> HTMLResponse:
    return render(request, "register.html", {"error": None}, page_user(request, db))


@router.post("/register", response_class=HTMLResponse)
def register(
    request: Request,
    db: DbSession,
    username: str = Form(""),
    password: str = Form(""),
    csrf: str = Form(""),
):
    check_csrf(request, csrf)
    try:
        body = UserCreate(username=username.strip(), password=password)
        users.create_user(db, body.username, body.password)
        client = request.client.host if request.client else None
        token = users.issue_token(db, body.username, body.password, client)
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors())
        return render(
            request, "register.html", {"error": problems, "username": username}, None, 422
        )
    except DomainError as exc:
        return render(
            request,
            "register.html",
            {"error": exc.detail, "username": username},
            None,
            http_status(exc),
        )
    response = redirect("/")
    set_session(response, token, secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request, db: DbSession, csrf: str = Form("")):
    check_csrf(request, csrf)
    token = session_token(request)
    user = page_user(request, db)
    if token and user is not None:
        digest = token_digest(token)
        for t in users.list_tokens(db, user):
            if t.token_hash == digest:
                users.revoke_token(db, user, t.id)
    response = redirect("/")
    clear_session(response)
    return response


def _require_user(request: Request, db):
    user = page_user(request, db)
    if user is None:
        raise NotAuthenticated("Log in first.")
    return user


@router.get("/account/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, db: DbSession) -> HTMLResponse:
    user = page_user(request, db)
    if user is None:
        return redirect("/login?next=/account/tokens")
    return _tokens_page(request, db, user)


@router.post("/account/tokens", response_class=HTMLResponse)
def new_token(request: Request, db: DbSession, csrf: str = Form(""), password: str = Form("")):
    check_csrf(request, csrf)
    user = _require_user(request, db)
    client = request.client.host if request.client else None
    try:
        token = users.issue_token(db, user.username, password, client)
    except DomainError as exc:
        return _tokens_page(request, db, user, error=exc.detail, status=401)
    return _tokens_page(request, db, user, new_token=token)


@router.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    db: DbSession,
    csrf: str = Form(""),
    current: str = Form(""),
    new: str = Form(""),
):
    check_csrf(request, csrf)
    user = _require_user(request, db)
    token = session_token(request)
    try:
        revoked = users.change_password(db, user, current, new, keep_token=token)
    except DomainError as exc:
        return _tokens_page(request, db, user, error=exc.detail, status=http_status(exc))
    message = f"Password changed; {revoked} other session(s) and token(s) revoked."
    return _tokens_page(request, db, user, notice=message)


def _tokens_page(request: Request, db, user, status: int = 200, **extra) -> HTMLResponse:
    current = token_digest(session_token(request) or "")
    rows = [(t, t.token_hash == current) for t in users.list_tokens(db, user)]
    context = {"tokens": rows, "new_token": None, **extra}  # extra may set new_token
    return render(request, "tokens.html", context, user, status)


@router.post("/account/tokens/{token_id}/revoke")
def revoke(token_id: RowId, request: Request, db: DbSession, csrf: str = Form("")):
    check_csrf(request, csrf)
    users.revoke_token(db, _require_user(request, db), token_id)
    return redirect("/account/tokens")
