"""A small HTTP client for the platform's API, with errors that say what to do.

Idempotent requests (GET, PUT, DELETE, …) are retried on connection errors and on 502/503/504,
honouring Retry-After (httpx-retries); an upload is never sent twice. A refusal raises
:class:`ClientError` with the HTTP status and the server's words.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from httpx_retries import Retry, RetryTransport

RETRY = Retry(
    total=4,
    status_forcelist=[502, 503, 504],
    backoff_factor=0.5,
    max_backoff_wait=30.0,
    respect_retry_after_header=True,
)


class ClientError(Exception):
    """A refused or failed call: ``status`` is the HTTP status (None: no answer at all)."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(f"{status}: {detail}" if status is not None else detail)
        self.detail, self.status = detail, status


class Unreachable(ClientError):
    """No answer from the platform (after the retries)."""


class ArenaClient:
    def __init__(
        self, url: str, token: str | None = None, timeout: float = 30.0, retry: Retry = RETRY
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=self.url + "/api/v1",
            headers=headers,
            timeout=timeout,
            transport=RetryTransport(retry=retry),
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any API call: JSON back (or text for CSV/YAML); ClientError with the server's words."""
        return _body(self._send(method, path, **kwargs))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(
                f"Cannot reach the platform at {self.url} ({type(exc).__name__}). Is it running "
                "(`make demo`)? Set the address with --url or ARENA_URL."
            ) from None
        if response.status_code >= 400:
            raise ClientError(_detail(response), response.status_code)
        return response

    def download(self, path: str, progress: Callable[[int, int], None] | None = None) -> bytes:
        """A file the API serves (a zip, a CSV), as bytes; ``progress(done, total)`` as it comes."""
        if progress is None:
            return self._send("GET", path).content
        try:
            with self.http.stream("GET", path) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ClientError(_detail(response), response.status_code)
                total = int(response.headers.get("content-length") or 0)
                chunks = bytearray()
                for chunk in response.iter_bytes():
                    chunks += chunk
                    progress(len(chunks), total or len(chunks))
                return bytes(chunks)
        except httpx.TransportError as exc:
            raise Unreachable(
                f"Cannot reach the platform at {self.url} ({type(exc).__name__}). Is it running "
                "(`make demo`)? Set the address with --url or ARENA_URL."
            ) from None

    def register(self, username: str, password: str) -> dict:
        return self.call("POST", "/users", json={"username": username, "password": password})

    def token(self, username: str, password: str) -> str:
        return self.call("POST", "/tokens", json={"username": username, "password": password})[
            "token"
        ]

    def every_page(self, path: str, per_page: int = 500) -> list[dict]:
        """A paged list, all of it: pages are fetched until X-Total-Count items are in."""
        items: list[dict] = []
        page = 1
        while True:
            response = self._send("GET", path, params={"page": page, "per_page": per_page})
            batch = response.json()
            items += batch
            total = int(response.headers.get("x-total-count", len(items)))
            if not batch or len(items) >= total:
                return items
            page += 1

    def tokens(self) -> list[dict]:
        return self.every_page("/tokens")

    def revoke_token(self, token_id: int) -> dict:
        return self.call("DELETE", f"/tokens/{token_id}")

    def log_out(self) -> dict:
        return self.call("DELETE", "/tokens/current")

    def competition(self, slug: str) -> dict:
        return self.call("GET", f"/competitions/{slug}")

    def competitions(self) -> list[dict]:
        return self.every_page("/competitions")

    def submit(self, slug: str, path: Path, **note: str | None) -> dict:
        """Upload a file; ``note``: message, method and url (each optional)."""
        with open(path, "rb") as fh:
            return self.call(
                "POST",
                f"/competitions/{slug}/submissions",
                files={"file": (path.name, fh, _media_type(path))},
                data={k: v for k, v in note.items() if v},
            )

    def submission(self, submission_id: int) -> dict:
        return self.call("GET", f"/submissions/{submission_id}")

    def submissions(self, slug: str) -> list[dict]:
        return self.every_page(f"/competitions/{slug}/submissions")

    def code(self, submission_id: int) -> tuple[str, bytes]:
        """A submission's uploaded file: (file name, content)."""
        response = self._send("GET", f"/submissions/{submission_id}/code")
        disposition = response.headers.get("content-disposition", "")
        name = disposition.partition('filename="')[2].rstrip('"') or f"submission-{submission_id}"
        return name, response.content

    def leaderboard(
        self,
        slug: str,
        board: str = "public",
        phase: str | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> dict:
        params = {"board": board, "page": page, "per_page": per_page}
        if phase:
            params["phase"] = phase
        return self.call("GET", f"/competitions/{slug}/leaderboard", params=params)

    def compute(self, slug: str) -> dict:
        return self.call("GET", f"/competitions/{slug}/compute")

    def accept_rules(self, slug: str) -> dict:
        return self.call("POST", f"/competitions/{slug}/rules/accept")

    def health(self) -> dict:
        return self.call("GET", "/health")


def _media_type(path: Path) -> str:
    return {".zip": "application/zip", ".ipynb": "application/x-ipynb+json"}.get(
        path.suffix.lower(), "text/x-python"
    )


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        detail = str(body.get("detail", response.text))
        if body.get("problems"):
            detail = detail.split(":")[0] + ":\n" + "\n".join(f"  - {p}" for p in body["problems"])
        return detail
    except (ValueError, AttributeError):
        return response.text


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.text
