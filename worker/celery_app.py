"""The Celery application, configured for reliability from the start.

Late acknowledgement (a task whose worker dies is redelivered), prefetch of one (a long
scoring task never holds a second one hostage), and tasks that can run twice without scoring
twice (runs are keyed by submission and index; a submission is claimed atomically).
The embedded default broker is kombu's filesystem transport under ``<var_dir>/broker``.
"""

from __future__ import annotations

from celery import Celery

from server.settings import Settings, get_settings

QUEUE = "arena"


def make_celery(settings: Settings) -> Celery:
    app = Celery("arena", broker=settings.celery_broker_url, include=["worker.tasks"])
    transport_options: dict = {}
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
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_publish_retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
    )
    return app


app = make_celery(get_settings())
