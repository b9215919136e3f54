"""Putting work on the queue. Called only after the database commit that the work refers to."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

SCORE_SUBMISSION = "arena.score_submission"
PREPARE_COMPETITION = "arena.prepare_competition"
RESCORE_COMPETITION = "arena.rescore_competition"
PRIVATE_STAGE = "arena.private_stage"  # staged N: a final pick up to the private N
RUN_CHUNK = "arena.run_chunk"  # runs start..stop-1 of a submission, on a hardware-class queue
REFERENCE_CHUNK = "arena.reference_chunk"  # reference models start..stop-1, likewise
CONTROL_QUEUE = "arena"  # coordination: claim, fan out, finish; every worker takes it


def _send(name: str, arg: int, queue: str | None = None) -> bool:
    from worker.celery_app import app  # the Celery app only; tasks (and torch) are not imported

    try:
        app.send_task(name, args=[arg], queue=queue or CONTROL_QUEUE)
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


def enqueue_chunk(task: str, chunk_id: int, queue: str) -> bool:
    """Send one chunk of fanned-out work to its hardware class's queue."""
    return _send(task, chunk_id, queue)


def queue_depth(queue: str) -> int | None:
    """Messages waiting in ``queue`` (0 when the broker does not know it yet); None when the
    broker cannot say (unreachable, or a transport that does not count)."""
    from kombu.exceptions import ChannelError

    from worker.celery_app import app

    try:
        with app.connection_for_write() as conn:
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
