"""No account can make the API spend CPU on a competition file it may not change, and locating
the problems of a file takes one parse however many problems it has."""

from __future__ import annotations

from unittest import mock

import yaml

from core import config_file
from core.config_file import ConfigInvalid, parse_config_text, problems_by_line
from core.models import Role
from harness.cases import competition_yaml, many_problems_yaml
from tests.organizer_flow import account, app_on

API = "/api/v1"
YAML = {"Content-Type": "application/yaml"}


def test_problems_are_located_with_one_parse():
    text = many_problems_yaml(2000)
    assert len(text) > 60_000
    try:
        parse_config_text(text)
    except ConfigInvalid as exc:
        problems = exc.problems
    assert len(problems) >= 2000
    with mock.patch.object(config_file.yaml, "compose", wraps=yaml.compose) as compose:
        by_line = problems_by_line(text, problems)
    assert compose.call_count == 1
    assert sum(len(v) for v in by_line.values()) == len(problems)
    assert any(line and line > 1000 for line in by_line)  # located, not all "general"


def test_only_managers_make_the_api_parse_and_bodies_are_capped(tmp_path):
    with app_on(f"sqlite:///{tmp_path / 'arena.db'}", tmp_path / "var") as client:
        olga = account(client, "olga-dos", Role.ORGANIZER)
        mallory = account(client, "mallory-dos")
        made = client.post(
            f"{API}/competitions", content=competition_yaml("dos"), headers=olga | YAML
        )
        assert made.status_code == 201, made.text
        big = many_problems_yaml(2000)
        with mock.patch.object(config_file.yaml, "compose", wraps=yaml.compose) as compose, \
                mock.patch.object(config_file.yaml, "safe_load", wraps=yaml.safe_load) as load:  # fmt: skip
            r = client.put(f"{API}/competitions/dos", content=big, headers=mallory | YAML)
            assert r.status_code == 403 and "Only the organizers" in r.json()["detail"]
            r = client.post(f"{API}/competitions", content=big, headers=mallory | YAML)
            assert r.status_code == 403
            assert compose.call_count == 0 and load.call_count == 0  # refused before parsing
        r = client.put(
            f"{API}/competitions/dos/dataset",
            files={"file": ("d.npz", b"\0" * (5 << 20))},
            headers=mallory,
        )
        assert r.status_code == 403 and "Only the organizers" in r.json()["detail"]
        assert not list((tmp_path / "var").rglob("upload-*.part"))  # nothing of it stored
        spec = client.get("/openapi.json").json()["paths"]["/api/v1/competitions/{slug}/dataset"]
        assert (
            "file"
            in spec["put"]["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
        )
        huge = "#" * (2 << 20)
        r = client.put(f"{API}/competitions/dos", content=huge, headers=olga | YAML)
        assert r.status_code == 413 and "over" in r.json()["detail"]
        r = client.put(f"{API}/competitions/dos", content=big, headers=olga | YAML)
        assert r.status_code == 422 and len(r.json()["problems"]) >= 2000  # the owner: answered


def test_bundle_uploads_have_the_bundle_cap_on_the_api_and_the_pages():
    from core.bundle import MAX_BUNDLE_BYTES
    from core.settings import get_settings
    from server.api.body_cap import OTHER_BODY_BYTES, BodyCap

    cap = BodyCap(None, get_settings())  # type: ignore[arg-type]
    for path in (
        "/api/v1/competitions/bundle",
        "/api/v1/competitions/x/bundle",
        "/organize/new-bundle",
        "/organize/x/bundle",
    ):
        assert cap.limit_for(path) > MAX_BUNDLE_BYTES, path
    assert cap.limit_for("/organize/new") == OTHER_BODY_BYTES


def test_request_bodies_are_capped_before_they_are_read(tmp_path):
    """Over ARENA_MAX_REQUEST_BYTES: 413 with nothing read when the length is declared; when it
    is not (chunked), refused as soon as the count passes the cap."""
    import asyncio

    from core.settings import get_settings
    from server.api.body_cap import BodyCap

    settings = get_settings().model_copy(update={"max_request_bytes": 1 << 20})
    pieces = {"read": 0}

    async def app(scope, receive, send):  # reads the whole body, then answers 200
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RuntimeError("client gone")  # what Starlette's parsers raise
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive():
        pieces["read"] += 1
        return {"type": "http.request", "body": b"x" * (1 << 20), "more_body": True}

    def call(headers):
        sent = []

        async def send(message):
            sent.append(message)

        pieces["read"] = 0
        scope = {"type": "http", "method": "POST", "path": "/api/v1/x", "headers": headers}
        asyncio.run(BodyCap(app, settings)(scope, receive, send))
        return sent

    sent = call([(b"content-length", str(64 << 20).encode())])
    assert sent[0]["status"] == 413 and pieces["read"] == 0  # nothing read
    sent = call([])  # chunked: 64 MiB would follow
    assert sent[0]["status"] == 413 and pieces["read"] == 2  # refused at the second MiB
    assert len([m for m in sent if m["type"] == "http.response.start"]) == 1

    with app_on(f"sqlite:///{tmp_path / 'arena.db'}", tmp_path / "var") as client:
        real = get_settings()
        saved, real.max_request_bytes = real.max_request_bytes, 1 << 20
        client.app.middleware_stack = None  # rebuilt with it at the next request
        try:
            mallory = account(client, "mallory-body")
            r = client.post(
                f"{API}/competitions/nowhere/submissions",
                files={"file": ("big.py", b"x" * (3 << 20))},
                headers=mallory,
            )
            assert r.status_code == 413 and "bytes" in r.json()["detail"]
            assert client.get(f"{API}/competitions").status_code == 200  # the API carries on
        finally:
            real.max_request_bytes = saved
            client.app.middleware_stack = None
