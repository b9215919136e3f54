"""The worker's hardware class: device plus CPU threads (docs/scoring.md §1; budgets are stored per
class, and fanned-out work goes to one queue per class)."""

from __future__ import annotations

import os
import re

import torch

RUN_QUEUE_PREFIX = "arena.run."


def cpu_threads(configured: int) -> int:
    return configured if configured > 0 else max(1, len(os.sched_getaffinity(0)))


def device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def slug(text: str) -> str:
    """Lower case, runs of anything but a-z, 0-9 and '.' made one '-' (a queue-safe name)."""
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


def detected_class(threads: int) -> str:
    """E.g. ``cpu-2t`` or ``cuda-nvidia-h100-80gb-hbm3-16t`` (the first visible GPU)."""
    if torch.cuda.is_available():
        return f"cuda-{slug(torch.cuda.get_device_name(0))}-{threads}t"
    return f"cpu-{threads}t"


def hardware_class(threads: int, declared: str = "") -> str:
    """The class this worker serves: the one it declares (``ARENA_HARDWARE_CLASS``), else detected."""
    return slug(declared) if declared.strip() else detected_class(threads)


def run_queue(hardware_class_name: str) -> str:
    """The queue of fanned-out chunks (runs, references) for one hardware class."""
    return RUN_QUEUE_PREFIX + slug(hardware_class_name)


def worker_class(settings) -> str:  # settings: core.settings.Settings
    """This worker's class from the settings (threads and the declared class)."""
    return hardware_class(cpu_threads(settings.worker_threads), settings.hardware_class)
