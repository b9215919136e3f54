"""Who may do what: organizers manage only the competitions they own or co-organize."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from core.errors import Forbidden
from core.models import Competition, CompetitionOrganizer, Role, User


def can_create_competitions(user: User) -> bool:
    return user.role in (Role.ADMIN, Role.ORGANIZER)


def may_organize(user: User) -> bool:
    """Organizers and admins, and anyone added as a co-organizer of a competition."""
    if can_create_competitions(user):
        return True
    session = object_session(user)
    return session is not None and (
        session.scalar(
            select(CompetitionOrganizer.user_id).where(CompetitionOrganizer.user_id == user.id)
        )
        is not None
    )


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
