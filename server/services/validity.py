"""Who may read a competition's validity report, and asking for a fresh one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.errors import Conflict, Forbidden, NotFound, Unavailable
from core.models import Competition, CompetitionStatus, User
from core.phases import all_phases_over, effective_status, last_phase_end
from core.queue import enqueue_validity
from core.validity import ValidityReport, load_validity
from server.precision import round_seconds, whole_second
from server.services import audit
from server.services.access import manages, require_manager
from server.services.lookup import config_of


def report_visible(session: Session, user: User | None, comp: Competition) -> bool:
    """Organizers always; everyone after the close, or before it when ``validity.public``."""
    if user is not None and manages(session, user, comp):
        return True
    cfg = config_of(comp)
    return cfg.validity.public or effective_status(comp, cfg) == CompetitionStatus.CLOSED


def report_of(session: Session, user: User | None, comp: Competition) -> ValidityReport:
    if not report_visible(session, user, comp):
        raise Forbidden(
            f"The validity report of {comp.slug!r} is shown to its organizers until the close; "
            "they can publish it earlier with `validity: {public: true}` in its settings.",
        )
    report = load_validity(comp.validity)
    if report is not None:
        _refresh_after_the_last_phase(comp, report)
    if report is None:
        raise NotFound(
            f"{comp.slug!r} has no validity report yet (status {comp.status}): it is computed "
            "at the end of its preparation, after each rescoring and at the close.",
        )
    return _published(report)


def _published(report: ValidityReport) -> ValidityReport:
    """Its times at the published precision (server/precision.py): the planner's median run
    time is taken over the entrants' runs."""
    planner = report.planner
    if planner is not None:
        rows = [
            row.model_copy(
                update={
                    "submission_device_seconds": round_seconds(row.submission_device_seconds),
                    "preparation_device_seconds": round_seconds(row.preparation_device_seconds),
                }
            )
            for row in planner.rows
        ]
        planner = planner.model_copy(
            update={
                "run_seconds_median": round_seconds(planner.run_seconds_median),
                "reference_seconds": round_seconds(planner.reference_seconds),
                "rows": rows,
            }
        )
    seconds = round_seconds(report.seconds) or 0.0
    computed_at = whole_second(report.computed_at)
    return report.model_copy(
        update={"seconds": seconds, "planner": planner, "computed_at": computed_at}
    )


def request_report(session: Session, user: User, comp: Competition) -> dict[str, object]:
    """Queue a fresh report (organizers; a prepared competition only)."""
    require_manager(session, user, comp, "refresh its validity report")
    if not comp.reference_summary:
        raise Conflict(
            f"{comp.slug!r} is not prepared yet (status {comp.status}); the report needs its "
            "reference models: prepare it first (`arena competition prepare SLUG`).",
        )
    if not enqueue_validity(comp.id, "request"):
        raise Unavailable("The queue is not reachable; try again in a moment.")
    audit.record(session, user, comp, "validity_report_requested")
    session.commit()
    return {"competition": comp.slug, "queued": True}


_REQUESTED: dict[int, datetime] = {}  # competition id -> the phase end a refresh was queued for


def _refresh_after_the_last_phase(comp: Competition, report: ValidityReport) -> None:
    """A competition closed by its last phase ending changes no status, so nothing queued its
    close-time report: the first read after the end does (once per process)."""
    cfg = config_of(comp)
    end = last_phase_end(cfg)
    if end is None or comp.status != CompetitionStatus.OPEN or not all_phases_over(cfg):
        return
    if report.computed_at >= end or _REQUESTED.get(comp.id) == end:
        return
    if enqueue_validity(comp.id, "close"):
        _REQUESTED[comp.id] = end
