"""Celery tasks: thin. Load by id, call the job, and the job records the status."""

from __future__ import annotations

from server.queue import PREPARE_COMPETITION, RESCORE_COMPETITION, SCORE_SUBMISSION
from server.settings import get_settings
from worker import heartbeat  # noqa: F401 - registers the worker heartbeat signal handlers
from worker.celery_app import app
from worker.prepare_job import run_preparation
from worker.rescore_job import run_rescoring
from worker.score_job import run_scoring


@app.task(name=SCORE_SUBMISSION, acks_late=True, bind=True)
def score_submission(self, submission_id: int) -> None:
    run_scoring(submission_id, get_settings(), worker=self.request.hostname)


@app.task(name=PREPARE_COMPETITION, acks_late=True)
def prepare_competition(competition_id: int) -> None:
    run_preparation(competition_id, get_settings())


@app.task(name=RESCORE_COMPETITION, acks_late=True)
def rescore_competition(competition_id: int) -> None:
    run_rescoring(competition_id, get_settings())
