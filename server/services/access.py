"""Who may do what: organizers manage only the competitions they own or co-organize."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden
from core.models import Competition, CompetitionOrganizer, Role, User


def can_create_competitions(user: User) -> bool:
    return user.role in (Role.ADMIN, Role.ORGANIZER)


def require_creator(user: User) -> None:
    if not can_create_competitions(user):
        raise Forbidden(
            "Creating competitions needs the organizer role; an admin grants it with "
            f"`arena admin set-role {user.username} organizer`.",
        )


def manages(session: Session, user: User | None, comp: Competition) -> bool:
    if user is None:
        return False
    if user.role == Role.ADMIN or comp.owner_id == user.id:
        return True
    return (
        session.scalar(
            select(CompetitionOrganizer.user_id).where(
                CompetitionOrganizer.competition_id == comp.id,
                CompetitionOrganizer.user_id == user.id,
            )
        )
        is not None
    )


def require_manager(session: Session, user: User, comp: Competition, action: str) -> None:
    if not manages(session, user, comp):
        raise Forbidden(
            f"Only the organizers of {comp.slug!r} can {action}; ask its owner to add you "
            "(POST /competitions/{slug}/organizers).",
        )
