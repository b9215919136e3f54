"""What organizers do to their competitions: create and update from a config file, upload the
hidden dataset, prepare, open, close, rescore, add co-organizers, disqualify, and look for
accounts sharing an address. Every state change goes to the audit log with it."""

from __future__ import annotations

import shutil
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core import state
from core.competition_config import CompetitionConfig
from core.errors import Conflict, Invalid, NotFound
from core.hidden_seed import new_secret
from core.models import (
    PREPARED_STATUSES,
    ApiToken,
    Competition,
    CompetitionBudget,
    CompetitionOrganizer,
    CompetitionStatus,
    Dataset,
    Disqualification,
    RulesAcceptance,
    Run,
    Submission,
    SubmissionStatus,
    Team,
    User,
    utcnow,
)
from core.organizer_code import checked_settings
from core.queue import enqueue_preparation, enqueue_rescoring, enqueue_scoring, enqueue_validity
from core.storage import Storage
from server.leaderboard import cache as board_cache
from server.services import audit
from server.services.access import require_creator, require_manager
from server.services.competitions import create_competition, data_summary
from server.services.datasets import uploaded_shape
from server.services.lookup import config_of

# Sections whose change invalidates the prepared artefacts (the data, the model, N).
DATA_SECTIONS = ("seed", "dataset", "split", "model", "recipe")


def create(
    session: Session, user: User, cfg: CompetitionConfig, bundle: dict[str, Any] | None = None
) -> Competition:
    """A new draft competition; a module model is checked first (jailed), unless its bundle
    was (``bundle``: that bundle's metadata)."""
    require_creator(user)
    if bundle is None:
        cfg = checked_settings(cfg, None, None)
    comp = create_competition(session, cfg, owner=user, bundle=bundle)
    audit.record(session, user, comp, "competition_created", slug=cfg.slug)
    session.commit()
    return comp


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def update_config(
    session: Session,
    user: User,
    comp: Competition,
    cfg: CompetitionConfig,
    bundle: dict[str, Any] | None = None,
) -> list[str]:
    """Replace the competition's settings; returns the changed top-level sections.

    Changing the data, model or recipe (or N) of a prepared competition sends it back to
    draft: prepare it again, then rescore with ``rerun`` to rerun every submission.
    """
    require_manager(session, user, comp, "change its settings")
    if cfg.slug != comp.slug:
        raise Invalid(
            f"slug: the file is for {cfg.slug!r}, not {comp.slug!r}; slugs cannot change."
        )
    old = config_of(comp)
    if bundle is None:  # the settings alone: the module's source stays; checked if it changed
        cfg = checked_settings(cfg, old, uploaded_shape(session, comp))
    before, after = old.model_dump(mode="json"), cfg.model_dump(mode="json")
    changed = _changed(before, after)
    needs_preparation = [k for k in changed if k in DATA_SECTIONS] or (
        ["scoring.n_models"] if old.scoring.n_models != cfg.scoring.n_models else []
    )
    if bundle is not None and (comp.bundle or {}).get("sha256") != bundle["sha256"]:
        changed = sorted({*changed, "bundle"})
        comp.bundle = bundle
    comp.config = after
    comp.title, comp.description = cfg.title, cfg.description
    if needs_preparation and comp.status in (*PREPARED_STATUSES, CompetitionStatus.FAILED):
        state.back_to_draft(
            comp,
            f"Changed {', '.join(needs_preparation)}: prepare the competition again, then rescore "
            "with rerun to run the submissions again.",
        )
        session.execute(
            delete(CompetitionBudget).where(CompetitionBudget.competition_id == comp.id)
        )
    else:
        for b in comp.budgets:  # the budget follows budget_fraction / budget_floor at once
            b.budget_seconds = max(
                cfg.scoring.budget_fraction * b.original_seconds, cfg.scoring.budget_floor_seconds
            )
    board_cache.boards.invalidate(comp.id)
    audit.record(session, user, comp, "config_updated", changed=changed)
    session.commit()
    return changed


def resplit(session: Session, user: User, comp: Competition) -> Competition:
    """A new server-side secret for the hidden split (core/hidden_seed.py), for a competition
    whose split may be known (one created before the secret existed): back to draft, to be
    prepared again and its submissions rescored with rerun."""
    require_manager(session, user, comp, "re-split it")
    if comp.status == CompetitionStatus.PREPARING:
        raise Conflict(f"{comp.slug!r} is being prepared; re-split it after the preparation ends.")
    comp.split_secret = new_secret()
    state.back_to_draft(
        comp,
        "Re-split with a new secret: prepare the competition again, then rescore with rerun to "
        "run the submissions on the new split.",
    )
    session.execute(delete(CompetitionBudget).where(CompetitionBudget.competition_id == comp.id))
    board_cache.boards.invalidate(comp.id)
    audit.record(session, user, comp, "resplit")
    session.commit()
    return comp


def prepare(session: Session, user: User, comp: Competition) -> Competition:
    require_manager(session, user, comp, "prepare it")
    cfg = config_of(comp)
    if comp.status in PREPARED_STATUSES:
        raise Conflict(
            f"{comp.slug!r} is prepared already (status {comp.status}). To retrain after a change "
            "of data or model, update its file or dataset first.",
        )
    if cfg.dataset.source == "upload":
        if session.scalar(select(Dataset.id).where(Dataset.competition_id == comp.id)) is None:
            raise Conflict(
                f"Upload the dataset of {comp.slug!r} first: `arena competition dataset {comp.slug} FILE.npz`.",
            )
    elif data_summary(session, comp) is None:
        raise Invalid("The built-in dataset does not fit the split; change split.forget_size.")
    state.start_preparation(
        comp,
        status_message=None,
        preparation_progress={"stage": "queued", "done": 0, "total": cfg.scoring.n_references},
        heartbeat_at=utcnow(),  # a lost message is sent again by the reaper
        preparation_attempts=0,
    )
    audit.record(session, user, comp, "preparation_started")
    session.commit()
    enqueue_preparation(comp.id)
    return comp


def open_competition(session: Session, user: User, comp: Competition) -> Competition:
    require_manager(session, user, comp, "open it")
    if comp.status == CompetitionStatus.OPEN:
        return comp
    if comp.status != CompetitionStatus.READY:
        raise Conflict(
            f"{comp.slug!r} cannot open from status {comp.status}: publishing needs a finished "
            "preparation (`arena competition prepare SLUG`).",
        )
    comp.status, comp.opened_at, comp.closed_at = CompetitionStatus.OPEN, utcnow(), None
    audit.record(session, user, comp, "competition_opened")
    session.commit()
    return comp


def close_competition(session: Session, user: User, comp: Competition) -> Competition:
    require_manager(session, user, comp, "close it")
    if comp.status == CompetitionStatus.CLOSED:
        return comp
    if comp.status != CompetitionStatus.OPEN:
        raise Conflict(
            f"{comp.slug!r} is not open (status {comp.status}); only an open competition closes.",
        )
    comp.status, comp.closed_at = CompetitionStatus.CLOSED, utcnow()
    board_cache.boards.invalidate(comp.id)
    audit.record(session, user, comp, "competition_closed")
    session.commit()
    if config_of(comp).scoring.staged:  # the final picks run up to the private N now
        from server.services.private_stage import start_private_stage

        counts = start_private_stage(session, comp)
        audit.record(session, user, comp, "private_stage_started", **counts)
        session.commit()
    enqueue_validity(comp.id, "close")  # again when the last private stage has ended
    return comp


RERUN_FROM = (SubmissionStatus.SCORED, SubmissionStatus.FAILED, SubmissionStatus.QUEUED)


def rescore(
    session: Session, storage: Storage, user: User, comp: Competition, rerun: bool
) -> dict[str, Any]:
    """Rescore every scored submission from stored outputs, or (``rerun``) run them all again.

    Bumps the scoring version; the leaderboard shows results of the current version only.
    """
    require_manager(session, user, comp, "rescore it")
    if comp.status not in PREPARED_STATUSES:
        raise Conflict(
            f"{comp.slug!r} is not prepared (status {comp.status}); prepare it first, then rescore.",
        )
    comp.scoring_version += 1
    version = comp.scoring_version
    board_cache.boards.invalidate(comp.id)
    if rerun:
        ids = list(
            session.scalars(
                select(Submission.id).where(
                    Submission.competition_id == comp.id,
                    Submission.status.in_(RERUN_FROM),
                )
            )
        )
        session.execute(delete(Run).where(Run.submission_id.in_(ids)))
        state.requeue_submission(
            session,
            [Submission.id.in_(ids)],
            frm=RERUN_FROM,
            failure_reason=None,
            failure_message=None,
            score=None,
            private_score=None,
            result=None,
            runs_done=0,
            started_at=None,
            finished_at=None,
        )
        audit.record(
            session, user, comp, "rerun_requested", scoring_version=version, submissions=len(ids)
        )
        session.commit()
        for sid in ids:
            for sub_path in (
                storage.submission_dir(sid) / "runs",
                storage.submission_dir(sid) / "logs",
            ):
                shutil.rmtree(sub_path, ignore_errors=True)
                storage.forget(sub_path)
            enqueue_scoring(sid)
        return {"scoring_version": version, "rerun": True, "submissions": len(ids)}
    count = session.scalar(
        select(func.count(Submission.id)).where(
            Submission.competition_id == comp.id, Submission.status == SubmissionStatus.SCORED
        )
    )
    audit.record(session, user, comp, "rescore_requested", scoring_version=version)
    session.commit()
    enqueue_rescoring(comp.id)
    return {"scoring_version": version, "rerun": False, "submissions": int(count or 0)}


def add_organizer(session: Session, user: User, comp: Competition, username: str) -> list[str]:
    require_manager(session, user, comp, "add organizers")
    other = session.scalar(select(User).where(User.username == username))
    if other is None:
        raise NotFound(f"No user {username!r}.")
    if session.get(CompetitionOrganizer, (comp.id, other.id)) is None and other.id != comp.owner_id:
        session.add(CompetitionOrganizer(competition_id=comp.id, user_id=other.id))
        audit.record(session, user, comp, "organizer_added", username=username)
        session.commit()
    return organizers(session, comp)


def organizers(session: Session, comp: Competition) -> list[str]:
    names = list(
        session.scalars(
            select(User.username)
            .join(CompetitionOrganizer, CompetitionOrganizer.user_id == User.id)
            .where(CompetitionOrganizer.competition_id == comp.id)
        )
    )
    owner = session.get(User, comp.owner_id) if comp.owner_id else None
    return ([owner.username] if owner else []) + sorted(names)


def disqualify(
    session: Session,
    user: User,
    comp: Competition,
    *,
    username: str | None,
    team: str | None,
    reason: str,
) -> dict[str, Any]:
    require_manager(session, user, comp, "disqualify entrants")
    if (username is None) == (team is None):
        raise Invalid("Name exactly one of username and team.")
    if not reason.strip():
        raise Invalid("reason: give the reason (it goes to the audit log).")
    entry = Disqualification(competition_id=comp.id, reason=reason.strip(), by_id=user.id)
    if username is not None:
        target = session.scalar(select(User).where(User.username == username))
        if target is None:
            raise NotFound(f"No user {username!r}.")
        entry.user_id = target.id
    else:
        target_team = session.scalar(
            select(Team).where(Team.competition_id == comp.id, Team.name == team)
        )
        if target_team is None:
            raise NotFound(f"No team {team!r} in {comp.slug!r}.")
        entry.team_id = target_team.id
    session.add(entry)
    audit.record(
        session, user, comp, "disqualified", username=username, team=team, reason=reason.strip()
    )
    session.commit()
    board_cache.boards.invalidate(comp.id)
    return {"username": username, "team": team, "reason": entry.reason}


def shared_addresses(session: Session, user: User, comp: Competition) -> list[dict[str, Any]]:
    """Addresses from which more than one account of this competition logged in or submitted."""
    require_manager(session, user, comp, "see account addresses")
    people = (
        select(Submission.user_id)
        .where(Submission.competition_id == comp.id)
        .union(select(RulesAcceptance.user_id).where(RulesAcceptance.competition_id == comp.id))
    )
    seen: dict[str, set[str]] = {}
    rows = session.execute(
        select(ApiToken.created_ip, User.username)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.user_id.in_(people), ApiToken.created_ip.is_not(None))
    ).all()
    rows += session.execute(
        select(Submission.client_ip, User.username)
        .join(User, User.id == Submission.user_id)
        .where(
            Submission.competition_id == comp.id,
            Submission.client_ip.is_not(None),
        )
    ).all()
    for address, name in rows:
        if address:
            seen.setdefault(address, set()).add(name)
    return [
        {"address": a, "accounts": sorted(names)}
        for a, names in sorted(seen.items())
        if len(names) > 1
    ]
