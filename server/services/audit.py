"""The audit log: every state-changing organizer action, with who and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.jsonsafe import json_safe
from core.models import AuditEntry, Competition, User


def record(
    session: Session, actor: User | None, comp: Competition | None, action: str, **detail: Any
) -> None:
    """Add an entry to the session; it commits with the change it describes."""
    session.add(
        AuditEntry(
            competition_id=comp.id if comp is not None else None,
            actor_id=actor.id if actor is not None else None,
            action=action,
            detail=json_safe(detail) if detail else None,
        )
    )


def count(session: Session, comp: Competition) -> int:
    return int(
        session.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.competition_id == comp.id)
        )
        or 0
    )


def entries(
    session: Session, comp: Competition, limit: int = 1000, offset: int = 0
) -> list[dict[str, Any]]:
    rows = session.execute(
        select(AuditEntry, User.username)
        .outerjoin(User, User.id == AuditEntry.actor_id)
        .where(AuditEntry.competition_id == comp.id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        {
            "at": e.at,
            "actor": name or "(platform)",
            "action": e.action,
            "detail": e.detail or {},
        }
        for e, name in rows
    ]
