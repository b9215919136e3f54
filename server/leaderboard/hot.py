"""The hottest read of a competition, answered before the framework: an anonymous GET of a
public leaderboard whose board is in the cache and fresh is sent from memory by this ASGI
middleware, without routing, dependency injection or validation. Anything else (a logged-in
reader, a private board, an unusual query, a cache miss or an expired board) goes on to the
route in ``server/api/routes/competitions.py``, which asks :func:`from_cache` (an expired board is
served while one rebuild runs) and fills the cache with the same key (:func:`remember`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from core.settings import get_settings
from server.leaderboard import cache as board_cache
from server.web.session import SESSION_COOKIE

PATH = re.compile(r"^/api/v1/competitions/([a-z0-9][a-z0-9-]{1,62}[a-z0-9])/leaderboard$")
SORTS = frozenset({"score", "avg_gap", "mia_gap", "rf_jsd"})
HEADERS = [(b"content-type", b"application/json"), (b"x-arena-cache", b"hot")]


def hot_key(slug: str, query: str) -> tuple | None:
    """The route's cache key for this query, or None when the route must look at it."""
    params = {"board": "public", "phase": None, "sort": "score", "page": "1", "per_page": "50"}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        return None
    for name, value in pairs:
        if name not in params or name == "board" and value != "public":
            return None
        params[name] = value
    if params["sort"] not in SORTS:
        return None
    try:
        page, per_page = int(params["page"]), int(params["per_page"])
    except ValueError:
        return None
    if not (1 <= page <= 100_000 and 1 <= per_page <= 500):
        return None
    return public_key(slug, params["phase"], params["sort"], page, per_page)


def public_key(slug: str, phase: str | None, sort: str, page: int, per_page: int) -> tuple:
    """The cache key of an anonymous read of a public board."""
    return ("hot", slug, "public", phase, sort, page, per_page)


Build = Callable[[], tuple[bytes, int]]  # the board's JSON and its competition's id


def from_cache(key: tuple, rebuild: Build, fallback: Build) -> bytes | None:
    """A fresh cached board as it is; an expired one as it is while one thread rebuilds it
    (``rebuild``, in the builder's process; ``fallback`` here if that fails); None when there
    is none: the caller builds it and :func:`remember` s it."""
    ttl = get_settings().leaderboard_cache_seconds
    body = board_cache.boards.peek(key, ttl)
    if body is not None:
        return body
    body = board_cache.boards.stale(key)
    if body is None:
        return None

    def refresh() -> None:
        try:  # in a process of its own: the event loop keeps the interpreter
            fresh, comp_id = rebuild()
        except Exception:
            fresh, comp_id = fallback()
        board_cache.boards.put(key, fresh, competition_id=comp_id)

    board_cache.boards.refresh_in_background(key, refresh)
    return body


def remember(key: tuple, body: bytes, competition_id: int) -> None:
    board_cache.boards.put(key, body, competition_id=competition_id)


def cacheable(anonymous: bool, board: str) -> bool:
    """Only anonymous reads of public boards are shared, and only while caching is on."""
    return anonymous and board == "public" and get_settings().leaderboard_cache_seconds > 0


class HotBoards:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = PATH.match(scope["path"])
            if match is not None:
                body = self._fresh(scope, match.group(1))
                if body is not None:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [*HEADERS, (b"content-length", str(len(body)).encode())],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    @staticmethod
    def _fresh(scope, slug: str) -> bytes | None:
        ttl = get_settings().leaderboard_cache_seconds
        if ttl <= 0:
            return None
        for name, value in scope["headers"]:
            if name == b"authorization" or (name == b"cookie" and SESSION_COOKIE.encode() in value):
                return None
        key = hot_key(slug, scope.get("query_string", b"").decode("latin-1"))
        if key is None:
            return None
        body = board_cache.boards.peek(key, ttl)
        return body if isinstance(body, bytes) else None
