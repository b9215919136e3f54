"""Behind a reverse proxy on another host (docs/deploy.md, "Reverse proxy"): the client's
address and the https scheme come from X-Forwarded-For and X-Forwarded-Proto only when the
proxy is trusted (uvicorn's FORWARDED_ALLOW_IPS); otherwise the headers are ignored. Checked on
`arena serve` itself: the address the login limit counts, and the Secure flag of the session
cookie."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from harness.platform import running_platform

pytestmark = pytest.mark.e2e

PROXIED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def _login_cookie(url: str) -> str:
    """The Set-Cookie header of a web login sent through the 'proxy'."""
    with httpx.Client(base_url=url, timeout=10) as client:
        r = client.get("/login", headers=PROXIED)
        csrf = r.cookies.get("arena_csrf") or next(
            c.split("=", 1)[1].split(";")[0]
            for c in r.headers.get_list("set-cookie")
            if c.startswith("arena_csrf=")
        )
        r = client.post(
            "/login",
            data={"username": "pia", "password": "correct horse", "csrf": csrf, "next": "/"},
            headers={**PROXIED, "Cookie": f"arena_csrf={csrf}"},
        )
        assert r.status_code == 303, r.text
        return next(c for c in r.headers.get_list("set-cookie") if c.startswith("arena_session="))


@pytest.mark.parametrize("trusted", [True, False])
def test_the_client_address_and_https_come_from_a_trusted_proxy_only(tmp_path, trusted):
    var = tmp_path / "var"
    env = {
        "ARENA_VAR_DIR": str(var),
        "ARENA_START_WORKER": "false",
        # the proxy is this host (trusted) or another one (then its headers are ignored)
        "FORWARDED_ALLOW_IPS": "127.0.0.1" if trusted else "192.0.2.1",
    }
    with running_platform(env, tmp_path / "serve.log", require_worker=False) as url:
        r = httpx.post(f"{url}/api/v1/users", json={"username": "pia", "password": "correct horse"})
        assert r.status_code == 201, r.text
        r = httpx.post(
            f"{url}/api/v1/tokens",
            json={"username": "pia", "password": "wrong password"},
            headers=PROXIED,
        )
        assert r.status_code == 401
        cookie = _login_cookie(url)
    with sqlite3.connect(var / "arena.db") as db:
        addresses = [row[0] for row in db.execute("SELECT address FROM login_failures")]
    if trusted:
        assert addresses == ["203.0.113.7"]  # the login limit counts the real client
        assert "secure" in cookie.lower()
    else:
        assert addresses == ["127.0.0.1"]
        assert "secure" not in cookie.lower()
