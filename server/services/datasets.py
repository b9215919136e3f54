"""The hidden dataset of a competition: upload (checked against the settings and the
organizer's model) and its summary (shapes, classes and split sizes, never the data)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core import state
from core.competition_config import CompetitionConfig
from core.datasets import inspect_npz, stream_to_file
from core.errors import Conflict, Invalid, NotFound, UnsupportedType
from core.models import (
    PREPARED_STATUSES,
    Competition,
    CompetitionBudget,
    CompetitionStatus,
    Dataset,
    User,
    utcnow,
)
from core.organizer_code import check_model
from core.settings import Settings
from core.storage import Storage
from server.services import audit
from server.services.access import require_manager
from server.services.competitions import data_summary
from server.services.lookup import config_of


def upload_dataset(
    session: Session,
    storage: Storage,
    settings: Settings,
    user: User,
    comp: Competition,
    filename: str,
    source: BinaryIO,
) -> dict[str, Any]:
    require_manager(session, user, comp, "upload its dataset")
    cfg = config_of(comp)
    if cfg.dataset.source != "upload":
        raise Conflict(
            f"{comp.slug!r} uses the built-in dataset {cfg.dataset.loader!r}; set dataset.source: "
            "upload (and n_classes) in its file first.",
        )
    if comp.status == CompetitionStatus.PREPARING:
        raise Conflict(
            f"{comp.slug!r} is being prepared; upload a new dataset after the preparation ends.",
        )
    if not filename.lower().endswith(".npz"):
        raise UnsupportedType(
            "Upload the dataset as an .npz file (numpy.savez(path, x=..., y=...))."
        )
    final = storage.dataset_file(comp.slug)
    tmp = final.with_name(f"upload-{os.getpid()}-{id(source)}.part")
    sha, size = stream_to_file(source, tmp, settings.max_dataset_bytes)
    try:
        summary = inspect_npz(tmp, comp.working_config, settings.max_dataset_bytes)
        check_upload_shape(cfg, summary["input_shape"])
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, final)
    storage.push(final)
    row = session.scalar(select(Dataset).where(Dataset.competition_id == comp.id))
    if row is None:
        row = Dataset(competition_id=comp.id)
        session.add(row)
    changed = row.sha256 != sha
    row.filename, row.sha256, row.size_bytes = Path(filename).name[:255], sha, size
    row.summary, row.uploaded_by, row.uploaded_at = summary, user.id, utcnow()
    if changed and comp.status in (*PREPARED_STATUSES, CompetitionStatus.FAILED):
        state.back_to_draft(
            comp,
            "The dataset changed: prepare again, then rescore with rerun to run the submissions again.",
        )
        session.execute(
            delete(CompetitionBudget).where(CompetitionBudget.competition_id == comp.id)
        )
    audit.record(session, user, comp, "dataset_uploaded", sha256=sha, size_bytes=size)
    session.commit()
    return {"filename": row.filename, "sha256": sha, "size_bytes": size, **summary}


def uploaded_shape(session: Session, comp: Competition) -> list[int] | None:
    row = session.scalar(select(Dataset).where(Dataset.competition_id == comp.id))
    return list(row.summary.get("input_shape") or []) or None if row is not None else None


def check_upload_shape(cfg: CompetitionConfig, shape: list[int]) -> None:
    """An upload fits ``dataset.input_shape`` and the organizer's model (checked jailed)."""
    if cfg.dataset.input_shape and list(cfg.dataset.input_shape) != list(shape):
        raise Invalid(
            f"The dataset's examples have shape {shape}, but dataset.input_shape is "
            f"{cfg.dataset.input_shape}: upload matching data or change the setting."
        )
    check_model(cfg, shape)


def dataset_info(session: Session, user: User, comp: Competition) -> dict[str, Any]:
    require_manager(session, user, comp, "see its dataset")
    cfg = config_of(comp)
    row = session.scalar(select(Dataset).where(Dataset.competition_id == comp.id))
    if cfg.dataset.source == "upload":
        if row is None:
            raise NotFound(f"No dataset uploaded for {comp.slug!r} yet (PUT .../dataset).")
        return {
            "filename": row.filename,
            "sha256": row.sha256,
            "size_bytes": row.size_bytes,
            **row.summary,
        }
    summary = data_summary(session, comp)
    if summary is None:
        raise Invalid(
            f"The built-in dataset does not fit the split of {comp.slug!r}; change split."
        )
    return summary
