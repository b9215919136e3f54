"""A small HTTP client for the platform's API, with errors that say what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx


class ClientError(Exception):
    pass


class ArenaClient:
    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ClientError(
                f"Cannot reach the platform at {self.url} ({type(exc).__name__}). Is it running "
                "(`make demo`)? Set the address with --url or ARENA_URL."
            ) from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ClientError(f"{response.status_code}: {detail}")
        return response.json() if response.content else None

    def register(self, username: str, password: str) -> dict:
        return self._call("POST", "/users", json={"username": username, "password": password})

    def token(self, username: str, password: str) -> str:
        return self._call("POST", "/tokens", json={"username": username, "password": password})[
            "token"
        ]

    def competition(self, slug: str) -> dict:
        return self._call("GET", f"/competitions/{slug}")

    def competitions(self) -> list[dict]:
        return self._call("GET", "/competitions")

    def submit(self, slug: str, path: Path) -> dict:
        with open(path, "rb") as fh:
            return self._call(
                "POST",
                f"/competitions/{slug}/submissions",
                files={"file": (path.name, fh, "text/x-python")},
            )

    def submission(self, submission_id: int) -> dict:
        return self._call("GET", f"/submissions/{submission_id}")

    def leaderboard(self, slug: str) -> dict:
        return self._call("GET", f"/competitions/{slug}/leaderboard")

    def health(self) -> dict:
        return self._call("GET", "/health")
