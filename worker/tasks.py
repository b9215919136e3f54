"""Celery tasks: thin. Load by id, call the job, and the job records the status.

Coordination tasks (claim a submission, start a preparation, rescore) go to the control queue
``arena`` that every worker takes; chunks of runs and of references go to the queue of their
hardware class (``arena.run.<class>``), which only workers of that class take.
"""

from __future__ import annotations

import logging

from celery.signals import celeryd_after_setup, worker_process_shutdown, worker_shutdown

from core.queue import (
    CONTROL_QUEUE,
    PREPARE_COMPETITION,
    PRIVATE_STAGE,
    REFERENCE_CHUNK,
    RESCORE_COMPETITION,
    RUN_CHUNK,
    SCORE_SUBMISSION,
    VALIDITY_REPORT,
)
from core.settings import get_settings
from worker import (
    hardware,
    heartbeat,  # noqa: F401 - registers the worker heartbeat signal handlers
)
from worker.celery_app import app
from worker.jobs.prepare import run_preparation, run_reference_chunk
from worker.jobs.rescore import run_rescoring
from worker.jobs.score import run_chunk, run_private_stage, run_scoring
from worker.jobs.validity import run_validity
from worker.sandbox import readiness
from worker.sandbox import warm as warm_sandbox

log = logging.getLogger(__name__)
IDLE_QUEUE = "arena.idle"  # what a worker that cannot confine code listens to: nothing is sent


@celeryd_after_setup.connect
def _consume_own_class(sender=None, instance=None, **_: object) -> None:
    """A worker takes the control queue (from ``-Q``) and its own hardware class's queue, once
    it has checked that it can confine participant code; one that cannot takes nothing (it
    only beats, its report in /health), so that no submission fails for want of a sandbox."""
    settings = get_settings()
    report = readiness.at_start(
        settings.sandbox_user, settings.unsafe_no_sandbox, settings.worker_threads
    )
    for line in report.lines():
        (log.info if report.ready else log.warning)("%s", line)
    queues = instance.app.amqp.queues
    if not readiness.takes_work(report):
        queues.select_add(IDLE_QUEUE)  # consumes something nobody sends to
        queues.deselect(CONTROL_QUEUE)
        log.warning("worker %s takes no work: its sandbox is not ready", sender)
        return
    queue = hardware.run_queue(hardware.worker_class(settings))
    queues.select_add(queue)
    log.info("worker %s takes the queues %s and %s", sender, CONTROL_QUEUE, queue)


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close_warm_sandbox(**_: object) -> None:
    """A sandbox kept between chunks ends with the process that kept it."""
    warm_sandbox.close()


@app.task(name=SCORE_SUBMISSION, acks_late=True, bind=True)
def score_submission(self, submission_id: int) -> None:
    run_scoring(submission_id, get_settings(), worker=self.request.hostname)


@app.task(name=PRIVATE_STAGE, acks_late=True, bind=True)
def private_stage(self, submission_id: int) -> None:
    run_private_stage(submission_id, get_settings(), worker=self.request.hostname)


@app.task(name=RUN_CHUNK, acks_late=True, bind=True)
def run_chunk_task(self, chunk_id: int) -> None:
    run_chunk(chunk_id, get_settings(), worker=self.request.hostname)


@app.task(name=PREPARE_COMPETITION, acks_late=True, bind=True)
def prepare_competition(self, competition_id: int) -> None:
    run_preparation(competition_id, get_settings(), worker=self.request.hostname)


@app.task(name=REFERENCE_CHUNK, acks_late=True, bind=True)
def reference_chunk_task(self, chunk_id: int) -> None:
    run_reference_chunk(chunk_id, get_settings(), worker=self.request.hostname)


@app.task(name=RESCORE_COMPETITION, acks_late=True)
def rescore_competition(competition_id: int) -> None:
    run_rescoring(competition_id, get_settings())


@app.task(name=VALIDITY_REPORT, acks_late=True)
def validity_report(competition_id: int, trigger: str) -> None:
    run_validity(competition_id, get_settings(), trigger)
