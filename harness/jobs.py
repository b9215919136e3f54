"""A submission stored as the API would store it (its row and its code), for tests and benches
that then call the worker's jobs directly (no API, no queue)."""

from __future__ import annotations

from core.db import session_scope
from core.models import Submission
from core.settings import get_settings
from core.storage import Storage


def stored_submission(
    competition_id: int,
    user_id: int,
    content: bytes,
    *,
    n_models: int,
    filename: str = "m.py",
    method_name: str | None = None,
) -> int:
    """The new submission's id; its code is in the storage, its status queued."""
    with session_scope() as s:
        sub = Submission(
            competition_id=competition_id,
            user_id=user_id,
            filename=filename,
            kind="py",
            sha256="0" * 64,
            size_bytes=len(content),
            n_models=n_models,
            method_name=method_name,
        )
        s.add(sub)
        s.flush()
        sid = sub.id
    path = Storage(get_settings()).submission_code(sid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return sid
