"""The hottest read of a competition, answered before the framework: an anonymous GET of a
public leaderboard whose board is in the cache and fresh is sent from memory by this ASGI
middleware, without routing, dependency injection or validation. Anything else (a logged-in
reader, a private board, an unusual query, a cache miss or an expired board) goes on to the
route in ``server/api/routes/competitions.py``, which fills the cache with the same key.
"""

from __future__ import annotations

import re
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
    return ("hot", slug, "public", params["phase"], params["sort"], page, per_page)


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
