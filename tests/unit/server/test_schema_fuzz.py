"""Property-based fuzzing of every API operation from the OpenAPI schema (schemathesis):
whatever the inputs, no server error, and every answer is what the schema declares (status,
content type, body). Bounded: a few examples per operation."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from core.db import session_scope
from core.models import Role
from harness.platform import tiny_config
from server.app import create_app
from server.services.platform import seed_competition
from server.services.users import create_user, issue_token


@schemathesis.serializer("application/zip")
def _zip_bytes(ctx, value):  # bundle bodies: the generated binary string as it is
    return value if isinstance(value, bytes) else str(value).encode()


app = create_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
TOKEN: dict[str, str] = {}
CONFORMANCE = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module", autouse=True)
def seeded(migrated_db):
    with session_scope() as s:
        seed_competition(s, tiny_config("fuzz-comp"))
        create_user(s, "fuzzer", "fuzzer-password", Role.ORGANIZER)
        TOKEN["value"] = issue_token(s, "fuzzer", "fuzzer-password")


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("ARENA_FUZZ_EXAMPLES", "12")),
    deadline=None,
    derandomize=not os.environ.get("ARENA_FUZZ_RANDOM"),
    suppress_health_check=list(HealthCheck),
)
def test_no_input_causes_a_server_error(case):
    headers = {"Authorization": f"Bearer {TOKEN['value']}"} if TOKEN else {}
    response = case.call(headers=headers)
    assert response.status_code < 500, (
        case.method,
        case.path,
        response.status_code,
        response.text[:500],
    )
    content_type = response.headers.get("content-type") or [""]
    if isinstance(content_type, list):
        content_type = content_type[0]
    if response.status_code >= 400 and content_type.startswith("application/json"):
        detail = response.json().get("detail")
        assert isinstance(detail, str) and detail, response.text[:300]
    # the declared status, content type, headers and body (not the probes of other methods)
    case.validate_response(response, checks=CONFORMANCE)
