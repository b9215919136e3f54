"""The worker's hardware class: device plus CPU threads (budgets are stored per class)."""

from __future__ import annotations

import os

import torch


def cpu_threads(configured: int) -> int:
    return configured if configured > 0 else max(1, len(os.sched_getaffinity(0)))


def device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def hardware_class(threads: int) -> str:
    """E.g. ``cpu-2t`` or ``cuda-NVIDIA H100 80GB HBM3-16t``."""
    if torch.cuda.is_available():
        return f"cuda-{torch.cuda.get_device_name(0)}-{threads}t"
    return f"cpu-{threads}t"
