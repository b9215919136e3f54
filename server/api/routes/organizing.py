"""Organizer endpoints: competitions from a config file, the hidden dataset, the lifecycle
(prepare → open → close), rescoring, co-organizers, moderation, audit log and CSV export."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUploadFile

from core.config_file import (
    ConfigInvalid,
    dump_config,
    parse_config_text,
    public_settings,
    validate_config_data,
)
from core.errors import BadRequest, Invalid, TooLarge
from server.api.deps import AppSettings, AppStorage, CurrentUser, DbSession, OptionalUser
from server.api.paging import Page
from server.leaderboard.export import board_csv
from server.schemas import CompetitionPublic
from server.services import audit, competitions, datasets, organizing
from server.services.access import require_creator, require_manager
from server.services.private_stage import private_stage_progress, start_private_stage

router = APIRouter(tags=["organizers"])

CONFIG_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
        "description": "The competition file (YAML, or the same settings as JSON).",
    }
}


CONFIG_MAX_BYTES = 1 << 20  # a competition file; its dataset and bundle are uploaded apart


async def _read_capped(request: Request, limit: int) -> bytes:
    """The body, refused (413) past ``limit`` bytes before more of it is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"The competition file is over {limit >> 10} KiB; send a smaller one.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"The competition file is over {limit >> 10} KiB; send a smaller one.")
    return bytes(body)


async def _config_from(request: Request):
    """Parse the body as a competition file. Call it only once the caller may change what it
    configures: parsing costs CPU that an account without the role must not be able to spend."""
    body = await _read_capped(request, CONFIG_MAX_BYTES)
    if not body.strip():
        raise Invalid("Send the competition file as the request body (YAML or JSON).")
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                data = json.loads(body)
            except ValueError:
                raise ConfigInvalid(["(file): the body is not valid JSON"]) from None
            return validate_config_data(data)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigInvalid(["(file): not UTF-8 text; save the YAML file as UTF-8"]) from None
        return parse_config_text(text)
    except ConfigInvalid as exc:
        raise Invalid(exc.detail(), extra={"problems": exc.problems}) from None


@router.post(
    "/competitions", status_code=201, response_model=CompetitionPublic, openapi_extra=CONFIG_BODY
)
async def create_competition(
    request: Request, db: DbSession, user: CurrentUser, settings: AppSettings
) -> CompetitionPublic:
    """Create a competition (status draft) from its YAML file. Organizers and admins."""
    require_creator(user)
    cfg = await _config_from(request)
    comp = await run_in_threadpool(organizing.create, db, user, cfg)  # may check a model, jailed
    return competitions.public_view(db, comp, user, settings)


@router.put("/competitions/{slug}", openapi_extra=CONFIG_BODY)
async def update_competition(
    slug: str, request: Request, db: DbSession, user: CurrentUser
) -> dict[str, Any]:
    """Replace the settings. Data/model changes send a prepared competition back to draft."""
    comp = competitions.get_competition(db, slug)
    require_manager(db, user, comp, "change its settings")  # before the body is read or parsed
    cfg = await _config_from(request)
    changed = await run_in_threadpool(organizing.update_config, db, user, comp, cfg)
    return {
        "slug": slug,
        "changed": changed,
        "status": comp.status,
        "status_message": comp.status_message,
    }


@router.get("/competitions/{slug}/config")
def competition_config(
    slug: str, db: DbSession, user: CurrentUser, format: Literal["yaml", "json"] = "yaml"
) -> Response:
    """The full settings file (organizers)."""
    comp = competitions.get_competition(db, slug)
    require_manager(db, user, comp, "read its settings")
    cfg = competitions.config_of(comp)
    if format == "json":
        return Response(json.dumps(public_settings(cfg), indent=2), media_type="application/json")
    return Response(dump_config(cfg), media_type="application/yaml")


DATASET_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "An .npz with x, y and optionally group.",
                        }
                    },
                    "required": ["file"],
                }
            }
        },
    }
}


@router.put("/competitions/{slug}/dataset", openapi_extra=DATASET_BODY)
async def upload_dataset(
    slug: str,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    settings: AppSettings,
    storage: AppStorage,
) -> dict[str, Any]:
    """Upload the hidden dataset (organizers); returns shapes, class balance and split sizes.
    The caller's role is checked before the body (up to ARENA_MAX_DATASET_BYTES) is read."""

    def allowed():
        comp = competitions.get_competition(db, slug)
        require_manager(db, user, comp, "upload its dataset")
        return comp

    comp = await run_in_threadpool(allowed)
    form = await request.form(max_files=1, max_fields=4)
    file = form.get("file")
    if not isinstance(file, StarletteUploadFile):
        raise BadRequest("No file: send the .npz as the multipart form field 'file'.")
    try:
        return await run_in_threadpool(
            datasets.upload_dataset,
            db, storage, settings, user, comp, file.filename or "dataset.npz", file.file,
        )  # fmt: skip
    finally:
        await form.close()


@router.get("/competitions/{slug}/dataset")
def dataset_info(slug: str, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    """The dataset's summary (organizers). The data themselves are never served."""
    return datasets.dataset_info(db, user, competitions.get_competition(db, slug))


def _lifecycle(action):
    def endpoint(
        slug: str, db: DbSession, user: CurrentUser, settings: AppSettings
    ) -> CompetitionPublic:
        comp = action(db, user, competitions.get_competition(db, slug))
        return competitions.public_view(db, comp, user, settings)

    return endpoint


router.add_api_route(
    "/competitions/{slug}/prepare",
    _lifecycle(organizing.prepare),
    methods=["POST"],
    status_code=202,
    response_model=CompetitionPublic,
    summary="Train the original and reference models (resumes an interrupted preparation)",
)
router.add_api_route(
    "/competitions/{slug}/resplit",
    _lifecycle(organizing.resplit),
    methods=["POST"],
    response_model=CompetitionPublic,
    summary="Draw the hidden split again from a new server-side secret (back to draft)",
)
router.add_api_route(
    "/competitions/{slug}/open",
    _lifecycle(organizing.open_competition),
    methods=["POST"],
    response_model=CompetitionPublic,
    summary="Publish a prepared competition",
)
router.add_api_route(
    "/competitions/{slug}/close",
    _lifecycle(organizing.close_competition),
    methods=["POST"],
    response_model=CompetitionPublic,
    summary="Close a competition (publishes the private leaderboard)",
)


class RescoreRequest(BaseModel):
    rerun: bool = Field(
        False,
        description="false: recompute scores from stored run outputs (after changing ε rules, δ "
        "or the leaderboard split); true: run every submission again (after a data or model change).",
    )


@router.post("/competitions/{slug}/rescore", status_code=202)
def rescore(
    slug: str,
    db: DbSession,
    user: CurrentUser,
    storage: AppStorage,
    body: RescoreRequest | None = None,
) -> dict[str, Any]:
    comp = competitions.get_competition(db, slug)
    return organizing.rescore(db, storage, user, comp, rerun=(body or RescoreRequest()).rerun)


@router.post("/competitions/{slug}/private-stage", status_code=202)
def private_stage(slug: str, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    """Staged N: run the final picks up to the private N now (closing does it too); again
    after a failure, only the picks not yet scored privately."""
    comp = competitions.get_competition(db, slug)
    require_manager(db, user, comp, "start its private stage")
    counts = start_private_stage(db, comp)
    audit.record(db, user, comp, "private_stage_started", **counts)
    db.commit()
    return {"competition": slug, **counts}


@router.get("/competitions/{slug}/private-stage")
def private_stage_status(slug: str, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    comp = competitions.get_competition(db, slug)
    require_manager(db, user, comp, "read its private stage")
    return {"competition": slug, "submissions": private_stage_progress(db, comp)}


class UsernameBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)


@router.post("/competitions/{slug}/organizers")
def add_organizer(
    slug: str, body: UsernameBody, db: DbSession, user: CurrentUser
) -> dict[str, Any]:
    comp = competitions.get_competition(db, slug)
    return {"organizers": organizing.add_organizer(db, user, comp, body.username)}


@router.get("/competitions/{slug}/organizers")
def list_organizers(slug: str, db: DbSession) -> dict[str, Any]:
    return {"organizers": organizing.organizers(db, competitions.get_competition(db, slug))}


@router.get("/competitions/{slug}/audit")
def audit_log(slug: str, db: DbSession, user: CurrentUser, page: Page) -> list[dict[str, Any]]:
    """The competition's audit log, newest first (paged: X-Total-Count, Link)."""
    comp = competitions.get_competition(db, slug)
    require_manager(db, user, comp, "read its audit log")
    rows = audit.entries(db, comp, limit=page.per_page, offset=page.offset)
    return page.apply(rows, total=audit.count(db, comp))


class DisqualifyBody(BaseModel):
    username: str | None = None
    team: str | None = None
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/competitions/{slug}/disqualifications", status_code=201)
def disqualify(slug: str, body: DisqualifyBody, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    comp = competitions.get_competition(db, slug)
    return organizing.disqualify(
        db, user, comp, username=body.username, team=body.team, reason=body.reason
    )


@router.get("/competitions/{slug}/shared-addresses")
def shared_addresses(slug: str, db: DbSession, user: CurrentUser) -> list[dict[str, Any]]:
    """Addresses used by more than one account of this competition (organizers)."""
    return organizing.shared_addresses(db, user, competitions.get_competition(db, slug))


@router.get(
    "/competitions/{slug}/leaderboard.csv",
    response_class=Response,
    tags=["competitions"],
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def leaderboard_csv(
    slug: str,
    db: DbSession,
    user: OptionalUser,
    board: Literal["public", "private"] = Query("public"),
    phase: str | None = Query(None, description="The phase's leaderboard (default: current)."),
) -> Response:
    """A leaderboard as CSV: the public board for anyone who can see the competition; the
    private one for its organizers, and for everyone once it is final."""
    comp = competitions.get_visible(db, slug, user)
    return Response(
        board_csv(db, comp, phase, board, user),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{slug}-{board}.csv"'},
    )
