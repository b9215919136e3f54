"""The CLI's HTTP client against a real local server: idempotent requests are retried on 503
(honouring Retry-After) and on a refused connection; an upload is never sent twice; a refusal
carries its HTTP status."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from httpx_retries import Retry

from cli import credentials
from cli.client import ArenaClient, ClientError, Unreachable

FAST = Retry(total=3, status_forcelist=[502, 503, 504], backoff_factor=0.01, max_backoff_wait=2)


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 (Retry-After: 0) to the first ``failures`` requests of each path, then 200."""

    failures = 2
    seen: dict[str, int] = {}

    def _answer(self) -> None:
        n = self.seen.get(self.path, 0) + 1
        self.seen[self.path] = n
        if self.path.startswith("/api/v1/paged"):  # 7 items, paged as the API pages lists
            query = dict(q.split("=") for q in self.path.split("?")[1].split("&"))
            page, per = int(query["page"]), int(query["per_page"])
            items = [{"i": i} for i in range(7)][(page - 1) * per : page * per]
            self._json(200, items, {"X-Total-Count": "7"})  # type: ignore[arg-type]
        elif self.path.endswith("/refuse"):
            self._json(404, {"detail": "No such thing; check the id."})
        elif n <= self.failures:
            self._json(503, {"detail": "busy"}, {"Retry-After": "0"})
        else:
            self._json(200, {"attempts": n})

    do_GET = do_POST = do_DELETE = _answer

    def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture()
def server():
    _Flaky.seen = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_get_is_retried_through_503s(server):
    client = ArenaClient(server, retry=FAST)
    assert client.call("GET", "/things") == {"attempts": 3}
    assert _Flaky.seen["/api/v1/things"] == 3


def test_a_list_is_read_to_its_last_page(server):
    client = ArenaClient(server, retry=FAST)
    assert client.every_page("/paged", per_page=3) == [{"i": i} for i in range(7)]
    assert sum(1 for p in _Flaky.seen if p.startswith("/api/v1/paged")) == 3


def test_an_upload_is_not_sent_twice(server):
    client = ArenaClient(server, retry=FAST)
    with pytest.raises(ClientError) as info:
        client.call("POST", "/things", json={"a": 1})
    assert info.value.status == 503 and info.value.detail == "busy"
    assert _Flaky.seen["/api/v1/things"] == 1


def test_a_refusal_carries_its_status_and_words(server):
    with pytest.raises(ClientError) as info:
        ArenaClient(server, retry=FAST).call("GET", "/refuse")
    assert info.value.status == 404 and str(info.value) == "404: No such thing; check the id."
    assert _Flaky.seen["/api/v1/refuse"] == 1  # a 404 is an answer, not retried


def test_no_platform_at_all_says_how_to_start_one():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unreachable) as info:
        ArenaClient(f"http://127.0.0.1:{port}", retry=FAST).call("GET", "/health")
    assert info.value.status is None and "make demo" in str(info.value)


def test_saved_credentials_are_owner_only_and_only_for_their_platform(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = credentials.save("http://arena.example/", "pat", "secret-token", None)
    assert path.parent == tmp_path / "arena"
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert credentials.token_for("http://arena.example") == "secret-token"
    assert credentials.token_for("http://elsewhere.example") is None  # never sent elsewhere
    assert credentials.forget() and credentials.token_for("http://arena.example") is None
    assert not credentials.forget()
