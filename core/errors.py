"""The platform's domain errors: what a caller asked for that the platform refuses.

Services raise these, never HTTP answers. Each says what is wrong and how to fix it; the web
server maps the class to a status code in one place (``server.errors``) and the CLI prints the
message. The class is the kind of refusal, not a transport's code.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refused request. ``retry_after``: seconds after which trying again may succeed;
    ``extra``: structured detail a client can read beside the message (e.g. ``problems``)."""

    def __init__(
        self, detail: str, *, retry_after: int | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        self.extra: dict[str, Any] = extra or {}


class BadRequest(DomainError):
    """The request is malformed (e.g. a form without its file)."""


class NotAuthenticated(DomainError):
    """Who is asking is unknown: no credentials, or wrong or expired ones."""


class Forbidden(DomainError):
    """Who is asking is known and may not do this."""


class NotFound(DomainError):
    """The thing asked for does not exist (or is not visible to the caller)."""


class Conflict(DomainError):
    """The request does not fit the current state (taken name, closed competition, …)."""


class TooLarge(DomainError):
    """An upload or a body over its limit."""


class UnsupportedType(DomainError):
    """An upload of a kind the platform does not take."""


class Invalid(DomainError):
    """Well-formed, but a value is wrong (config, dataset, field)."""


class RateLimited(DomainError):
    """Too many attempts or submissions for now; ``retry_after`` says when."""


class Unavailable(DomainError):
    """A part of the platform is down for now (storage, broker); try again later."""


def not_found(what: str) -> NotFound:
    return NotFound(f"{what} not found")
