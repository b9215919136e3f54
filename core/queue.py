"""Putting work on the queue: the broker's Celery app and the send side.

Late acknowledgement (a task whose worker dies is redelivered), prefetch of one (a long
scoring task never holds a second one hostage), and tasks that can run twice without scoring
twice (runs are keyed by submission and index; a submission is claimed atomically).
The embedded default broker is kombu's filesystem transport under ``<var_dir>/broker``.
Work is sent only after the database commit that it refers to; the worker side
(``worker.celery_app``) adds the tasks to the same app.
"""

from __future__ import annotations

import functools
import logging

from celery import Celery

from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

SCORE_SUBMISSION = "arena.score_submission"
PREPARE_COMPETITION = "arena.prepare_competition"
RESCORE_COMPETITION = "arena.rescore_competition"
PRIVATE_STAGE = "arena.private_stage"  # staged N: a final pick up to the private N
RUN_CHUNK = "arena.run_chunk"  # runs start..stop-1 of a submission, on a hardware-class queue
REFERENCE_CHUNK = "arena.reference_chunk"  # reference models start..stop-1, likewise
VALIDITY_REPORT = "arena.validity_report"  # a competition's validity report, refreshed
CONTROL_QUEUE = "arena"  # coordination: claim, fan out, finish; every worker takes it


def make_celery(settings: Settings) -> Celery:
    app = Celery("arena", broker=settings.celery_broker_url)
    transport_options: dict[str, object] = {}
    if settings.embedded_broker:
        settings.ensure_dirs()
        folder = str(settings.broker_dir / "queue")
        transport_options = {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "processed_folder": str(settings.broker_dir / "processed"),
            "store_processed": False,
            "control_folder": str(settings.broker_dir / "control"),
            # a folder is cheap to list: poll it often, so that chunks follow each other quickly
            "polling_interval": 0.1,
        }
    elif settings.celery_broker_url.startswith(("redis://", "rediss://")):
        transport_options = {"visibility_timeout": 6 * 3600}  # longer than any scoring task
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=CONTROL_QUEUE,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_publish_retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
    )
    return app


@functools.cache
def broker_app() -> Celery:
    """The process's Celery app (made once, from the settings of the first call)."""
    return make_celery(get_settings())


def _send(name: str, arg: int, queue: str | None = None) -> bool:
    try:
        broker_app().send_task(name, args=[arg], queue=queue or CONTROL_QUEUE)
        return True
    except Exception:  # broker down: the row stays queued and is picked up by a requeue
        log.exception("could not enqueue %s(%s)", name, arg)
        return False


def enqueue_scoring(submission_id: int) -> bool:
    return _send(SCORE_SUBMISSION, submission_id)


def enqueue_preparation(competition_id: int, queue: str | None = None) -> bool:
    """To any worker (the control queue), or to one hardware class's ``queue``."""
    return _send(PREPARE_COMPETITION, competition_id, queue)


def enqueue_private_stage(submission_id: int) -> bool:
    return _send(PRIVATE_STAGE, submission_id)


def enqueue_rescoring(competition_id: int) -> bool:
    return _send(RESCORE_COMPETITION, competition_id)


def enqueue_validity(competition_id: int, trigger: str) -> bool:
    """Refresh a competition's validity report (``trigger``: close, private stage, request)."""
    try:
        broker_app().send_task(VALIDITY_REPORT, args=[competition_id, trigger], queue=CONTROL_QUEUE)
        return True
    except Exception:  # broker down: the last report stays; the next trigger refreshes it
        log.exception("could not enqueue the validity report of %s", competition_id)
        return False


def enqueue_chunk(task: str, chunk_id: int, queue: str) -> bool:
    """Send one chunk of fanned-out work to its hardware class's queue."""
    return _send(task, chunk_id, queue)


def queue_depth(queue: str) -> int | None:
    """Messages waiting in ``queue`` (0 when the broker does not know it yet); None when the
    broker cannot say (unreachable, or a transport that does not count)."""
    from kombu.exceptions import ChannelError

    try:
        with broker_app().connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.channel()
            try:
                return int(channel.queue_declare(queue=queue, passive=True).message_count)
            except ChannelError:
                return 0
            except Exception as exc:  # py-amqp's NotFound is not a kombu ChannelError
                if type(exc).__name__ == "NotFound":
                    return 0
                raise
            finally:
                try:
                    channel.close()
                except Exception:
                    pass
    except Exception:
        log.debug("queue depth of %s unknown", queue, exc_info=True)
        return None
