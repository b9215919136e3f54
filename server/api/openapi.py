"""The API's OpenAPI document, as the API behaves: bearer security (declared by the
dependencies), one error body for every 4xx (what ``server/errors.py`` sends, never FastAPI's
validation-error array), and a description on every tag."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

TAGS = [
    {
        "name": "accounts",
        "description": "Register, log in for an API token, list and revoke tokens.",
    },
    {
        "name": "competitions",
        "description": "Competitions, their leaderboards, your compute and accepting the rules.",
    },
    {
        "name": "submissions",
        "description": "Upload an `unlearning` function, follow its runs, pick finals, cancel.",
    },
    {"name": "teams", "description": "Create a team, invite, accept an invitation, leave."},
    {
        "name": "organizers",
        "description": "Create and configure competitions, upload the hidden dataset, prepare, "
        "open, close, rescore, run the private stage, export, audit, disqualify.",
    },
    {"name": "system", "description": "Health of the database, broker and workers."},
]


class ErrorBody(BaseModel):
    """Every refusal: what is wrong and how to fix it."""

    detail: str = Field(description="What is wrong and how to fix it, in one or more sentences.")
    problems: list[str] | None = Field(
        None, description="Every problem found, one a line (competition files)."
    )


ERROR_RESPONSE = {
    "description": "Refused: the body says what is wrong and how to fix it (Retry-After on 429).",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
}


def document(app: FastAPI) -> dict[str, Any]:
    """The document, built once: FastAPI's, with the real error body on every operation."""
    if app.openapi_schema is None:
        spec = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=TAGS,
        )
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorBody"] = ErrorBody.model_json_schema()
        for operations in spec.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                responses["4XX"] = ERROR_RESPONSE
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = spec
    return app.openapi_schema


def install(app: FastAPI) -> None:
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
