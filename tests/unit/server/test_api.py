"""The HTTP API in process (SQLite migrated by Alembic, the embedded broker, no worker)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.db import session_scope
from core.models import ApiToken, Submission, User
from core.settings import get_settings
from harness.platform import tiny_config
from server.app import create_app
from server.services.platform import seed_competition

GOOD = b"def unlearning(net, retain_loader, forget_loader, val_loader):\n    return net\n"


@pytest.fixture(scope="module")
def client(migrated_db):
    with session_scope() as s:
        seed_competition(s, tiny_config("api-comp"))
        limited = tiny_config("api-limited")
        limited.limits.max_daily_submissions = 2
        seed_competition(s, limited)
    with TestClient(create_app()) as c:
        yield c


def _account(client: TestClient, name: str) -> dict[str, str]:
    assert (
        client.post(
            "/api/v1/users", json={"username": name, "password": "hunter2hunter2"}
        ).status_code
        == 201
    )
    r = client.post("/api/v1/tokens", json={"username": name, "password": "hunter2hunter2"})
    assert r.status_code == 200
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _submit(client, headers, content=GOOD, name="method.py", slug="api-comp"):
    client.post(f"/api/v1/competitions/{slug}/rules/accept", headers=headers)
    return client.post(
        f"/api/v1/competitions/{slug}/submissions", files={"file": (name, content)}, headers=headers
    )


def test_register_login_and_me(client):
    headers = _account(client, "dana")
    me = client.get("/api/v1/me", headers=headers)
    assert (
        me.status_code == 200
        and me.json()["username"] == "dana"
        and me.json()["role"] == "participant"
    )


def test_passwords_and_tokens_are_stored_hashed(client):
    headers = _account(client, "erin")
    token = headers["Authorization"].split()[1]
    with session_scope() as s:
        user = s.scalar(select(User).where(User.username == "erin"))
        assert user.password_hash.startswith("$argon2") and "hunter2" not in user.password_hash
        digests = s.scalars(select(ApiToken.token_hash).where(ApiToken.user_id == user.id)).all()
        assert digests and token not in digests


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"username": "ab", "password": "longenough"}, 422, "username"),
        ({"username": "frank", "password": "short"}, 422, "password"),
        ({"username": "bad name!", "password": "longenough"}, 422, "username"),
        ({"password": "longenough"}, 422, "username: is required"),
    ],
)
def test_registration_errors_are_readable(client, body, status, fragment):
    r = client.post("/api/v1/users", json=body)
    assert r.status_code == status
    assert isinstance(r.json()["detail"], str) and fragment in r.json()["detail"]


def test_duplicate_username_and_wrong_password(client):
    _account(client, "gina")
    r = client.post("/api/v1/users", json={"username": "gina", "password": "another-one"})
    assert r.status_code == 409 and "taken" in r.json()["detail"]
    r = client.post("/api/v1/tokens", json={"username": "gina", "password": "wrong-password"})
    assert r.status_code == 401 and "Wrong username or password" in r.json()["detail"]


def test_malformed_json_is_a_4xx(client):
    r = client.post(
        "/api/v1/users", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422 and "JSON" in r.json()["detail"]


def test_submit_requires_a_token(client):
    r = _submit(client, {})
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    r = _submit(client, {"Authorization": "Bearer nope"})
    assert r.status_code == 401 and "unknown or revoked" in r.json()["detail"]


def test_accepted_upload_is_stored_before_the_202(client):
    headers = _account(client, "hank")
    r = _submit(client, headers)
    assert r.status_code == 202 and r.json()["status"] == "queued"
    sid = r.json()["id"]
    with session_scope() as s:
        sub = s.get(Submission, sid)
        assert sub.status == "queued" and sub.size_bytes == len(GOOD)
    stored = get_settings().storage_dir / "submissions" / f"{sid:08d}" / "submission.py"
    assert stored.read_bytes() == GOOD
    view = client.get(f"/api/v1/submissions/{sid}", headers=headers).json()
    assert view["status"] == "queued" and view["n_models"] == 4 and view["score"] is None
    mine = client.get("/api/v1/competitions/api-comp/submissions", headers=headers).json()
    assert [m["id"] for m in mine] == [sid]


@pytest.mark.parametrize(
    ("content", "name", "status", "fragment"),
    [
        (b"", "m.py", 422, "empty"),
        (b"\xff\xfe\x00bad", "m.py", 422, "UTF-8"),
        (b"def unlearning(net:\n", "m.py", 422, "Syntax error"),
        (b"def forget(net, a, b, c):\n    return net\n", "m.py", 422, "does not define"),
        (b"def unlearning(net):\n    return net\n", "m.py", 422, "four"),
        (GOOD, "m.txt", 415, ".ipynb"),
        (b"x" * 2_000_001, "m.py", 413, "limit"),
    ],
)
def test_bad_uploads_are_rejected_and_not_stored(client, content, name, status, fragment):
    headers = _account(client, f"u{abs(hash((content[:20], name))) % 10**8}")
    with session_scope() as s:
        before = s.query(Submission).count()
    r = _submit(client, headers, content, name)
    assert r.status_code == status, r.text
    assert fragment in r.json()["detail"]
    with session_scope() as s:
        assert s.query(Submission).count() == before


def test_missing_file_field(client):
    headers = _account(client, "ivan")
    r = client.post("/api/v1/competitions/api-comp/submissions", headers=headers, data={"x": "1"})
    assert r.status_code in (400, 422) and "file" in r.json()["detail"]


def test_daily_quota_is_enforced_and_reported(client):
    headers = _account(client, "judy")
    assert (
        client.get("/api/v1/competitions/api-limited", headers=headers).json()["limits"][
            "remaining_today"
        ]
        == 2
    )
    assert _submit(client, headers, slug="api-limited").status_code == 202
    assert _submit(client, headers, slug="api-limited").status_code == 202
    r = _submit(client, headers, slug="api-limited")
    assert r.status_code == 429 and "resets" in r.json()["detail"]
    assert (
        client.get("/api/v1/competitions/api-limited", headers=headers).json()["limits"][
            "remaining_today"
        ]
        == 0
    )


def test_unknown_things_are_404(client):
    headers = _account(client, "kate")
    assert client.get("/api/v1/competitions/nope").status_code == 404
    assert _submit(client, headers, slug="nope").status_code == 404
    assert client.get("/api/v1/submissions/999999", headers=headers).status_code == 404


def test_public_endpoints(client):
    comps = client.get("/api/v1/competitions").json()
    assert {"api-comp", "api-limited"} <= {c["slug"] for c in comps}
    comp = client.get("/api/v1/competitions/api-comp").json()
    assert (
        comp["n_models"] == 4
        and comp["rules"] == "official"
        and comp["limits"]["remaining_today"] is None
    )
    board = client.get("/api/v1/competitions/api-comp/leaderboard").json()
    assert board["rows"] == [] and board["board"] == "public"
    assert client.get("/api/v1/competitions/api-comp/leaderboard?board=private").status_code == 403
    health = client.get("/api/v1/health")
    assert health.json()["database"] == "ok" and health.json()["broker"].startswith("ok")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "arena_submissions" in metrics.text
    for family in (
        "arena_queue_length",
        "arena_runs_in_flight",
        "arena_run_seconds_bucket",
        "arena_workers_alive",
        "arena_competitions",
    ):
        assert family in metrics.text, family
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/").status_code == 200 and "api-comp" in client.get("/").text


def test_tokens_can_be_listed_and_revoked(client):
    headers = _account(client, "tina")
    second = client.post(
        "/api/v1/tokens", json={"username": "tina", "password": "hunter2hunter2"}
    ).json()["token"]
    tokens = client.get("/api/v1/tokens", headers=headers).json()
    assert len(tokens) == 2 and all("token" not in t for t in tokens)
    latest = tokens[-1]["id"]
    revoked = client.delete(f"/api/v1/tokens/{latest}", headers=headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {second}"})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert (
        client.get("/api/v1/me", headers=headers).status_code == 200
    )  # the other token still works
    other = _account(client, "uma")
    assert client.delete(f"/api/v1/tokens/{tokens[0]['id']}", headers=other).status_code == 404


def test_tokens_expire_and_the_current_one_logs_out(client):
    from datetime import timedelta

    from core.db import session_scope
    from core.models import ApiToken
    from core.settings import get_settings
    from server.security import token_digest

    headers = _account(client, "vera")
    token = headers["Authorization"].split()[1]
    listed = client.get("/api/v1/tokens", headers=headers).json()
    days = get_settings().token_days
    assert days == 90 and listed[0]["expires_at"] is not None
    with session_scope() as s:  # the token is 91 days old
        row = s.query(ApiToken).filter(ApiToken.token_hash == token_digest(token)).one()
        row.created_at = row.created_at - timedelta(days=91)
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert "arena login" in r.json()["detail"] and r.headers["WWW-Authenticate"] == "Bearer"

    fresh = client.post("/api/v1/tokens", json={"username": "vera", "password": "hunter2hunter2"})
    assert fresh.status_code == 200 and fresh.json()["expires_at"] is not None
    mine = {"Authorization": f"Bearer {fresh.json()['token']}"}
    out = client.delete("/api/v1/tokens/current", headers=mine)
    assert out.status_code == 200 and out.json()["revoked_at"] is not None
    assert client.get("/api/v1/me", headers=mine).status_code == 401
    assert client.delete("/api/v1/tokens/current").status_code == 401  # no token at all


def test_the_openapi_document_says_how_to_authenticate_and_what_errors_look_like(client):
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token from POST /api/v1/tokens (`arena login`).",
    }
    assert spec["paths"]["/api/v1/me"]["get"]["security"] == [{"bearer": []}]
    assert "HTTPValidationError" not in str(spec)
    error = spec["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["detail"] and "problems" in error["properties"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], (method, path)
            ref = operation["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorBody"
    assert all(tag.get("description") for tag in spec["tags"])
    used = {t for ops in spec["paths"].values() for op in ops.values() for t in op.get("tags", [])}
    assert used <= {tag["name"] for tag in spec["tags"]}
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_a_submission_carries_its_note(client):
    headers = _account(client, "walt")
    client.post("/api/v1/competitions/api-comp/rules/accept", headers=headers)
    note = {"message": "  fine-tune on retain  ", "method": "FT", "url": "https://arxiv.org/abs/1"}
    r = client.post(
        "/api/v1/competitions/api-comp/submissions",
        files={"file": ("m.py", GOOD)},
        data=note,
        headers=headers,
    )
    assert r.status_code == 202, r.text
    sub = client.get(f"/api/v1/submissions/{r.json()['id']}", headers=headers).json()
    assert (sub["message"], sub["method_name"], sub["method_url"]) == (
        "fine-tune on retain",
        "FT",
        "https://arxiv.org/abs/1",
    )
    code = client.get(f"/api/v1/submissions/{sub['id']}/code", headers=headers)
    assert code.status_code == 200 and code.content == GOOD
    assert code.headers["content-disposition"] == 'attachment; filename="m.py"'
    other = _account(client, "xena")
    assert client.get(f"/api/v1/submissions/{sub['id']}/code", headers=other).status_code == 404
    before = len(client.get("/api/v1/competitions/api-comp/submissions", headers=headers).json())
    for bad, fragment in (
        ({"url": "javascript:alert(1)"}, "not an http(s) address"),
        ({"message": "x" * 501}, "at most 500 characters"),
    ):
        r = client.post(
            "/api/v1/competitions/api-comp/submissions",
            files={"file": ("m.py", GOOD)},
            data=bad,
            headers=headers,
        )
        assert r.status_code == 422 and fragment in r.json()["detail"]
    after = client.get("/api/v1/competitions/api-comp/submissions", headers=headers).json()
    assert len(after) == before  # nothing stored


def test_lists_are_paged_with_a_total_and_links(client):
    headers = _account(client, "yara")
    for _ in range(4):  # five tokens in all
        client.post("/api/v1/tokens", json={"username": "yara", "password": "hunter2hunter2"})
    first = client.get("/api/v1/tokens?per_page=2", headers=headers)
    assert first.status_code == 200 and len(first.json()) == 2
    assert first.headers["X-Total-Count"] == "5"
    assert "page=2" in first.headers["Link"] and 'rel="next"' in first.headers["Link"]
    last = client.get("/api/v1/tokens?per_page=2&page=3", headers=headers)
    assert len(last.json()) == 1 and 'rel="prev"' in last.headers["Link"]
    assert 'rel="next"' not in last.headers["Link"]
    ids = [
        t["id"]
        for p in (1, 2, 3)
        for t in client.get(f"/api/v1/tokens?per_page=2&page={p}", headers=headers).json()
    ]
    assert len(set(ids)) == 5  # every token on exactly one page
    bad = client.get("/api/v1/tokens?per_page=0", headers=headers)
    assert bad.status_code == 422 and "per_page" in bad.json()["detail"]
    listed = client.get("/api/v1/competitions?per_page=1")
    assert len(listed.json()) == 1 and int(listed.headers["X-Total-Count"]) >= 1


def test_logins_are_rate_limited_per_username(client):
    _account(client, "lockme")
    for _ in range(10):
        r = client.post("/api/v1/tokens", json={"username": "lockme", "password": "wrong-password"})
        assert r.status_code == 401 and r.json()["detail"] == "Wrong username or password."
    r = client.post("/api/v1/tokens", json={"username": "lockme", "password": "hunter2hunter2"})
    assert r.status_code == 429 and "wait 15 minutes" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) == 900


@pytest.mark.parametrize(
    ("name", "content", "status", "fragment"),
    [
        ("empty.py", b"", 422, "empty"),
        ("binary.py", bytes(range(256)) * 8, 422, "UTF-8"),
        (
            "latin1.py",
            "def unlearning(a, b, c, d):\n    return a  # café\n".encode("latin-1"),
            422,
            "UTF-8",
        ),
        ("zip.py", b"PK\x03\x04" + bytes(range(256)) * 4, 422, "UTF-8"),
        ("deep.ipynb", b"[" * 100_000 + b"]" * 100_000, 422, "nested too deeply"),
        ("huge.py", b"#" * 5_000_000, 413, "larger than the limit"),
        ("model.pt", b"\x80\x02}q\x00.", 415, ".py"),
    ],
)
def test_bad_uploads_get_a_4xx_that_says_why_and_nothing_is_stored(
    client, name, content, status, fragment
):
    headers = _account(client, f"bad-{name.replace('.', '-')}")
    r = _submit(client, headers, content, name)
    assert r.status_code == status and fragment in r.json()["detail"], (name, r.status_code, r.text)
    mine = client.get("/api/v1/competitions/api-comp/submissions", headers=headers).json()
    assert mine == []


def test_ids_out_of_range_are_a_422_not_a_500(client):
    headers = _account(client, "bignum")
    for path in ("/api/v1/submissions/9223372036854775808", "/api/v1/submissions/0"):
        r = client.get(path, headers=headers)
        assert r.status_code == 422 and "submission_id" in r.json()["detail"], r.text
    r = client.post("/api/v1/teams/99999999999999999999/accept", headers=headers)
    assert r.status_code == 422
