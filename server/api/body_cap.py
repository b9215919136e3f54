"""Request bodies are capped before they are read: an ASGI middleware, outside every route.

A body that declares a length over the cap is refused with 413 before a byte of it is read; a
body without a declared length (chunked) is counted as it arrives and refused the moment it goes
over (the route sees the client leave, and its answer is replaced by the 413). Routes keep their
own, smaller limits (a competition's submission size); this cap is what no request can pass:
``max_request_bytes`` for submission uploads, ``max_dataset_bytes`` for the organizers' dataset
uploads, the bundle cap for competition bundles, 1 MiB for every other body (JSON, forms, competition files).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.bundle import MAX_BUNDLE_BYTES
from core.settings import Settings

WITH_BODY = {"POST", "PUT", "PATCH"}
OTHER_BODY_BYTES = 1 << 20  # JSON, forms and competition files


class BodyCap:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.uploads = settings.max_request_bytes
        self.dataset = max(settings.max_dataset_bytes, settings.max_request_bytes)
        self.other = min(OTHER_BODY_BYTES, settings.max_request_bytes)

    def limit_for(self, path: str) -> int:
        """Files where files are sent (a submission, a dataset); everything else is a form or
        JSON that a few KiB hold, capped at 1 MiB so that parsing it costs next to nothing."""
        path = path.rstrip("/")
        if path.endswith("/dataset"):
            return self.dataset
        if path.endswith("/bundle") or path == "/organize/new-bundle":  # a bundle (zip)
            return MAX_BUNDLE_BYTES + (64 << 10)
        if path.endswith("/submissions") or path.endswith("/submit"):
            return self.uploads
        return self.other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WITH_BODY:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0
        over = False
        replaced = False

        async def counted() -> Message:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def answer(message: Message) -> None:
            nonlocal replaced
            if not over:
                await send(message)
            elif not replaced and message["type"] == "http.response.start":
                replaced = True
                await _too_large(send, limit)

        try:
            await self.app(scope, counted, answer)
        except Exception:
            if not over:
                raise
        if over and not replaced:
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "detail": f"The request body is over {limit:,} bytes, the most this platform "
            "accepts; send a smaller file (a submission is your code, not data or weights)."
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
