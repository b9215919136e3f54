"""Competitions from bundles (core.bundle): create, update, export, and the starter kit.

A bundle is checked whole (:func:`core.bundle_validation.check_bundle`, the model module in a
jail) before anything is written. Its files but the settings and the model module (which live
in the competition's settings) are kept as one zip in storage, named by content, and its
pages and file list on the competition row; an export writes the settings and the module
back, so a bundle exported and created under another slug gives the same competition.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.bundle import CONFIG_NAME, DEV_NAME, Bundle, stored
from core.bundle_validation import CheckedBundle, check_bundle
from core.competition_config import ModuleModel
from core.config_file import dump_config
from core.errors import Conflict, NotFound
from core.models import Competition, User
from core.storage import Storage
from server.services import audit, organizing
from server.services.access import require_creator, require_manager
from server.services.lookup import config_of


def _store(storage: Storage, slug: str, checked: CheckedBundle) -> tuple[dict[str, Any], str]:
    """Write the bundle's files; returns its metadata and the path written."""
    data = checked.stored_files().to_zip()
    sha = hashlib.sha256(data).hexdigest()
    path = storage.bundle_file(slug, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    storage.push(path)
    return checked.metadata(path.name, sha), str(path)


def _discard(session: Session, storage: Storage, slug: str, written: str) -> None:
    """Remove a bundle file this request wrote, unless a competition uses it (the same
    content stored twice is one file)."""
    path = Path(written)
    used = session.scalar(select(Competition.bundle).where(Competition.slug == slug))
    if (used or {}).get("file") != path.name:
        path.unlink(missing_ok=True)
        storage.forget(path)


def create_from_bundle(
    session: Session, storage: Storage, user: User, bundle: Bundle, slug: str | None = None
) -> Competition:
    """A new competition (draft) from ``bundle``, under ``slug`` when given. A failed create
    leaves neither a row nor a file behind."""
    require_creator(user)
    checked = check_bundle(bundle, slug)
    taken(session, checked.config.slug)
    meta, written = _store(storage, checked.config.slug, checked)
    try:
        comp = organizing.create(session, user, checked.config, bundle=meta)
    except BaseException:
        session.rollback()
        _discard(session, storage, checked.config.slug, written)
        raise
    return comp


def taken(session: Session, slug: str) -> None:
    if session.scalar(select(Competition.id).where(Competition.slug == slug)) is not None:
        raise Conflict(f"A competition with slug {slug!r} exists already; pass another slug.")


def update_from_bundle(
    session: Session, storage: Storage, user: User, comp: Competition, bundle: Bundle
) -> list[str]:
    """Replace settings, model module, pages, kit and dev split; returns the changed sections
    (a changed module is a changed ``model``: a prepared competition goes back to draft)."""
    require_manager(session, user, comp, "change its settings")
    checked = check_bundle(bundle, comp.slug)
    old = dict(comp.bundle or {})
    meta, written = _store(storage, comp.slug, checked)
    try:
        changed = organizing.update_config(session, user, comp, checked.config, bundle=meta)
    except BaseException:
        session.rollback()
        _discard(session, storage, comp.slug, written)
        raise
    if old.get("file") and old["file"] != meta["file"]:
        _discard(session, storage, comp.slug, str(storage.bundle_file(comp.slug, old["sha256"])))
    return changed


def stored_bundle(storage: Storage, comp: Competition) -> Bundle:
    meta = comp.bundle or {}
    if not meta.get("file"):
        return Bundle({})
    return stored(storage.pull(storage.bundle_file(comp.slug, str(meta["sha256"]))))


def export_bundle(session: Session, storage: Storage, user: User, comp: Competition) -> bytes:
    """The competition as a bundle zip: its settings now, model module, pages, kit, dev split."""
    require_manager(session, user, comp, "export its bundle")
    cfg = config_of(comp)
    files = dict(stored_bundle(storage, comp).files)
    files[CONFIG_NAME] = dump_config(cfg).encode()
    if isinstance(cfg.model, ModuleModel) and cfg.model.source is not None:
        files[cfg.model.module] = cfg.model.source.encode()
    for name, text in (comp.bundle or {}).get("pages", {}).items():
        files[f"pages/{name}.md"] = text.encode()
    audit.record(session, user, comp, "bundle_exported")
    session.commit()
    return Bundle(files).to_zip()


def kit_zip(storage: Storage, comp: Competition) -> bytes:
    """The starter kit participants download: the bundle's kit/ files, the competition's
    settings and model module (public: the architecture of the net they receive), the dev
    split, and the pages. ``arena score-local --kit`` runs on it."""
    meta = comp.bundle or {}
    if not meta.get("kit") and not meta.get("dev"):
        raise NotFound(f"{comp.slug!r} has no starter kit (its bundle has no kit/ folder).")
    cfg = config_of(comp)
    stored = stored_bundle(storage, comp)
    files = {path.removeprefix("kit/"): data for path, data in stored.kit().items()}
    files[CONFIG_NAME] = dump_config(cfg).encode()
    if isinstance(cfg.model, ModuleModel) and cfg.model.source is not None:
        files[cfg.model.module] = cfg.model.source.encode()
    if stored.dev is not None:
        files[DEV_NAME] = stored.dev
    for name, text in meta.get("pages", {}).items():
        files[f"pages/{name}.md"] = text.encode()
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {p}\n" for p, d in sorted(files.items()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in sorted(files.items()):
            zf.writestr(path, data)
        zf.writestr(CHECKSUMS, sums)  # `sha256sum -c SHA256SUMS` checks them
    return out.getvalue()


CHECKSUMS = "SHA256SUMS"


def pages_of(comp: Competition) -> dict[str, str]:
    return dict((comp.bundle or {}).get("pages") or {})
