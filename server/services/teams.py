"""Teams and entrants. An entrant is a team or a participant on their own; limits, final
picks and leaderboard rows belong to entrants. Merging follows Kaggle: the merged team's
submission counts must fit the limits, and a member who has submitted with a team stays."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import Conflict, Forbidden, NotFound, not_found
from core.models import Competition, Submission, Team, TeamInvite, TeamMember, User
from server.services import audit
from server.services.lookup import config_of, day_start


@dataclass
class Entrant:
    """Who a submission counts for: ``team`` when the user is in one, else the user alone."""

    user: User
    team: Team | None

    @property
    def name(self) -> str:
        return self.team.name if self.team is not None else self.user.username

    def submissions(self) -> ColumnElement[bool]:
        if self.team is not None:
            return Submission.team_id == self.team.id
        return and_(Submission.user_id == self.user.id, Submission.team_id.is_(None))


def team_of(session: Session, comp: Competition, user: User) -> Team | None:
    return session.scalar(
        select(Team)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.competition_id == comp.id, TeamMember.user_id == user.id)
    )


def entrant_of(session: Session, comp: Competition, user: User) -> Entrant:
    return Entrant(user=user, team=team_of(session, comp, user))


def counts(session: Session, comp: Competition, condition: ColumnElement[bool]) -> tuple[int, int]:
    """(submissions today, submissions in total) that count against the quota."""
    base = and_(
        Submission.competition_id == comp.id,
        Submission.counts_against_quota.is_(True),
        condition,
    )
    today = session.scalar(
        select(func.count(Submission.id)).where(base, Submission.created_at >= day_start())
    )
    total = session.scalar(select(func.count(Submission.id)).where(base))
    return int(today or 0), int(total or 0)


def _get_team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise not_found(f"Team {team_id}")
    return team


def _member_ids(session: Session, team: Team) -> list[int]:
    return list(session.scalars(select(TeamMember.user_id).where(TeamMember.team_id == team.id)))


def create_team(session: Session, comp: Competition, user: User, name: str) -> Team:
    if team_of(session, comp, user) is not None:
        raise Conflict("You are in a team of this competition already; leave it first.")
    if session.scalar(select(Team.id).where(Team.competition_id == comp.id, Team.name == name)):
        raise Conflict(f"A team named {name!r} exists in {comp.slug!r}; choose another name.")
    team = Team(competition_id=comp.id, name=name)
    session.add(team)
    session.flush()
    session.add(TeamMember(team_id=team.id, competition_id=comp.id, user_id=user.id))
    # the founder's own submissions now count for the team
    session.execute(
        update(Submission)
        .where(
            Submission.competition_id == comp.id,
            Submission.user_id == user.id,
            Submission.team_id.is_(None),
        )
        .values(team_id=team.id)
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"A team named {name!r} exists, or you joined one meanwhile.") from None
    return team


def invite(session: Session, team_id: int, user: User, username: str) -> TeamInvite:
    team = _get_team(session, team_id)
    if user.id not in _member_ids(session, team):
        raise Forbidden("Only members of a team can invite to it.")
    invitee = session.scalar(select(User).where(User.username == username))
    if invitee is None:
        raise NotFound(f"No user {username!r}; check the spelling.")
    if invitee.id in _member_ids(session, team):
        raise Conflict(f"{username!r} is in the team already.")
    existing = session.scalar(
        select(TeamInvite).where(TeamInvite.team_id == team.id, TeamInvite.user_id == invitee.id)
    )
    if existing is not None:
        return existing
    inv = TeamInvite(team_id=team.id, user_id=invitee.id, invited_by=user.id)
    session.add(inv)
    session.commit()
    return inv


def pending_invites(session: Session, comp: Competition, user: User) -> list[Team]:
    return list(
        session.scalars(
            select(Team)
            .join(TeamInvite, TeamInvite.team_id == Team.id)
            .where(Team.competition_id == comp.id, TeamInvite.user_id == user.id)
        )
    )


def accept(session: Session, team_id: int, user: User) -> Team:
    """Join ``team_id`` by invitation; the user's own entrant (alone or a team) merges into it."""
    team = _get_team(session, team_id)
    comp = session.get(Competition, team.competition_id)
    inv = session.scalar(
        select(TeamInvite).where(TeamInvite.team_id == team.id, TeamInvite.user_id == user.id)
    )
    if inv is None:
        raise Forbidden(
            f"You have no invitation to team {team.name!r}; ask a member to invite you."
        )
    session.scalar(select(Team).where(Team.id == team.id).with_for_update())  # serialise merges
    cfg = config_of(comp)
    mine = entrant_of(session, comp, user)
    if mine.team is not None and mine.team.id == team.id:
        raise Conflict("You are in this team already.")
    joining = _member_ids(session, mine.team) if mine.team is not None else [user.id]
    members = _member_ids(session, team)
    if len(members) + len(joining) > cfg.limits.max_team_size:
        raise Conflict(
            f"The merged team would have {len(members) + len(joining)} members; the limit is "
            f"{cfg.limits.max_team_size}.",
        )
    today_a, total_a = counts(session, comp, Entrant(user, team).submissions())
    today_b, total_b = counts(session, comp, mine.submissions())
    if today_a + today_b > cfg.limits.max_daily_submissions:
        raise Conflict(
            f"Merging is not possible today: together you made {today_a + today_b} submissions "
            f"today, more than the daily limit of {cfg.limits.max_daily_submissions}. Try tomorrow.",
        )
    total_limit = cfg.limits.max_total_submissions
    if total_limit is not None and total_a + total_b > total_limit:
        raise Conflict(
            f"Merging is not possible: together you made {total_a + total_b} submissions, more "
            f"than the limit of {total_limit} for a team.",
        )
    session.execute(
        update(Submission)
        .where(mine.submissions(), Submission.competition_id == comp.id)
        .values(team_id=team.id)
    )
    if mine.team is not None:
        old = mine.team
        session.execute(
            update(TeamMember).where(TeamMember.team_id == old.id).values(team_id=team.id)
        )
        session.execute(delete(TeamInvite).where(TeamInvite.team_id == old.id))
        session.flush()
        session.delete(old)
    else:
        session.add(TeamMember(team_id=team.id, competition_id=comp.id, user_id=user.id))
    session.delete(inv)
    audit.record(session, user, comp, "team_merged", team=team.name, members_added=len(joining))
    session.commit()
    return team


def leave(session: Session, team_id: int, user: User) -> None:
    team = _get_team(session, team_id)
    membership = session.scalar(
        select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user.id)
    )
    if membership is None:
        raise NotFound(f"You are not a member of team {team.name!r}.")
    submitted = session.scalar(
        select(func.count(Submission.id)).where(
            Submission.team_id == team.id, Submission.user_id == user.id
        )
    )
    if submitted:
        raise Conflict(
            f"You made {submitted} submissions with team {team.name!r}, so you cannot leave it "
            "(they count for the team, as on Kaggle).",
        )
    session.delete(membership)
    session.flush()
    if not _member_ids(session, team):
        session.delete(team)
    session.commit()


def team_view(session: Session, team: Team) -> dict:
    members = session.scalars(
        select(User.username)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team.id)
        .order_by(User.username)
    ).all()
    invited = session.scalars(
        select(User.username)
        .join(TeamInvite, TeamInvite.user_id == User.id)
        .where(TeamInvite.team_id == team.id)
    ).all()
    return {"id": team.id, "name": team.name, "members": list(members), "invited": list(invited)}
