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

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any API call: JSON back (or text for CSV/YAML); ClientError with the server's words."""
        return self._call(method, path, **kwargs)

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
                body = response.json()
                detail = body.get("detail", response.text)
                if body.get("problems"):
                    detail = (
                        detail.split(":")[0]
                        + ":\n"
                        + "\n".join(f"  - {p}" for p in body["problems"])
                    )
            except ValueError:
                detail = response.text
            raise ClientError(f"{response.status_code}: {detail}")
        if not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

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

    def leaderboard(self, slug: str, board: str = "public", phase: str | None = None) -> dict:
        params = {"board": board, **({"phase": phase} if phase else {})}
        return self._call("GET", f"/competitions/{slug}/leaderboard", params=params)

    def compute(self, slug: str) -> dict:
        return self.call("GET", f"/api/v1/competitions/{slug}/compute")

    def accept_rules(self, slug: str) -> dict:
        return self._call("POST", f"/competitions/{slug}/rules/accept")

    def health(self) -> dict:
        return self._call("GET", "/health")
