"""The database record of each run of a submission: started, then its outcome and the device
time it held (charged whatever the outcome)."""

from __future__ import annotations

from sqlalchemy import func, select, update

from core import state
from core.db import session_scope
from core.models import Run, RunStatus, Submission
from worker.sandbox.runner import RunResult

RECORDED = (RunStatus.FINISHED, RunStatus.OVER_BUDGET)


def already_recorded(submission_id: int, index: int) -> bool:
    with session_scope() as s:
        status = s.scalar(
            select(Run.status).where(Run.submission_id == submission_id, Run.index == index)
        )
    return status in RECORDED


def recorded_indices(submission_id: int) -> set[int]:
    with session_scope() as s:
        return set(
            s.scalars(
                select(Run.index).where(
                    Run.submission_id == submission_id, Run.status.in_(RECORDED)
                )
            ).all()
        )


def _run(s, submission_id: int, index: int, seed: int, budget: float) -> Run:
    run = s.scalar(select(Run).where(Run.submission_id == submission_id, Run.index == index))
    if run is None:
        run = Run(submission_id=submission_id, index=index, seed=seed, budget_seconds=budget)
        s.add(run)
    run.budget_seconds = budget
    return run


def start_run(submission_id: int, index: int, seed: int, budget: float) -> None:
    with session_scope() as s:
        state.start_run(_run(s, submission_id, index, seed, budget))


def record_outcome(
    submission_id: int,
    index: int,
    seed: int,
    budget: float,
    result: RunResult,
    device: tuple[str, float] | None = None,
) -> None:
    """The run's outcome; ``device``: (hardware class, seconds held), added to the
    submission's device time."""
    with session_scope() as s:
        run = _run(s, submission_id, index, seed, budget)
        if device is not None:
            run.device, run.device_seconds = device
            s.execute(  # charged whatever the outcome: the device was held
                update(Submission)
                .where(Submission.id == submission_id)
                .values(device_seconds=Submission.device_seconds + device[1])
            )
        status = state.record_run_outcome(
            run, result.outcome, seconds=result.seconds, error_message=result.message or None
        )
        if status in RECORDED:
            s.flush()
            s.get(Submission, submission_id).runs_done = s.scalar(
                select(func.count())
                .select_from(Run)
                .where(Run.submission_id == submission_id, Run.status.in_(RECORDED))
            )


def diagnostic_done(submission_id: int) -> bool:
    with session_scope() as s:
        return (
            s.scalar(select(Submission.diagnostic).where(Submission.id == submission_id))
            is not None
        )


def record_diagnostic(submission_id: int, result: RunResult, held: float) -> None:
    """The diagnostic run's outcome (its full message: public data), and its device time."""
    with session_scope() as s:
        sub = s.get(Submission, submission_id)
        sub.diagnostic = {
            "status": result.outcome,
            "seconds": round(result.seconds, 1) if result.seconds is not None else None,
            "clock": result.clock,
            "message": result.message or None,
            "device_seconds": round(held, 1),
        }
        sub.device_seconds = (sub.device_seconds or 0.0) + held
