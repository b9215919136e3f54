"""The worker's Celery app: the broker's app (``core.queue``) with the worker's tasks."""

from __future__ import annotations

from core.queue import CONTROL_QUEUE, broker_app

QUEUE = CONTROL_QUEUE

app = broker_app()
app.conf.include = ["worker.tasks"]
