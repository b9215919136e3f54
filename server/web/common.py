"""Shared by the page modules: templates (with Markdown and number filters), the page's
user from the session cookie, and rendering with the CSRF value every form needs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy.orm import Session

from core.models import User
from server.precision import published
from server.services.access import may_organize
from server.services.users import user_for_token
from server.web import charts
from server.web.session import csrf_value, ensure_csrf_cookie, session_token

FRONTEND = Path(__file__).resolve().parent.parent.parent / "frontend"
templates = Jinja2Templates(directory=str(FRONTEND / "templates"))
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


templates.env.filters["markdown"] = lambda text: Markup(_markdown.render(text or ""))
templates.env.filters["fmt"] = _fmt
templates.env.filters["when"] = _when
templates.env.globals["histogram_svg"] = charts.histogram_svg
templates.env.globals["series_svg"] = charts.series_svg


def page_user(request: Request, db: Session) -> User | None:
    token = session_token(request)
    return user_for_token(db, token) if token else None


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    user: User | None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {  # the models as the API would send them (server/precision.py)
        **published(context),
        "user": user,
        "csrf": csrf_value(request),
        "organizes": user is not None and may_organize(user),
    }
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    ensure_csrf_cookie(request, response)
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, status_code: int, detail: str) -> HTMLResponse:
    return render(
        request, "error.html", {"status": status_code, "detail": detail}, None, status_code
    )
