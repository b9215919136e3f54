"""Putting work on the queue. Called only after the database commit that the work refers to."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

SCORE_SUBMISSION = "arena.score_submission"
PREPARE_COMPETITION = "arena.prepare_competition"
RESCORE_COMPETITION = "arena.rescore_competition"


def _send(name: str, arg: int) -> bool:
    from worker.celery_app import app  # the Celery app only; tasks (and torch) are not imported

    try:
        app.send_task(name, args=[arg])
        return True
    except Exception:  # broker down: the row stays queued and is picked up by a requeue
        log.exception("could not enqueue %s(%s)", name, arg)
        return False


def enqueue_scoring(submission_id: int) -> bool:
    return _send(SCORE_SUBMISSION, submission_id)


def enqueue_preparation(competition_id: int) -> bool:
    return _send(PREPARE_COMPETITION, competition_id)


def enqueue_rescoring(competition_id: int) -> bool:
    return _send(RESCORE_COMPETITION, competition_id)
