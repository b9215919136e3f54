"""This worker process's sandbox, kept warm between chunks of one submission.

Starting a sandbox (bubblewrap, the zygote importing torch and the participant's module) and
writing the run data take about a second: for short runs, a good part of a chunk. A worker that
ends a chunk while more chunks of the same submission (and stage) wait keeps its sandbox and
setup for the next one; a chunk of anything else, an idle minute or the worker's shutdown
closes it. A sandbox never serves two submissions: the key holds the submission and its stage.
Runs are forked fresh from the zygote either way, and a run that ends abnormally restarts the
sandbox, as within one chunk.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

from worker.pipeline.trials import TrialSetup
from worker.sandbox.runner import Sandbox

IDLE_SECONDS = 60.0


@dataclass
class WarmSandbox:
    key: Hashable  # (submission id, stage, hardware class, budget)
    setup: TrialSetup
    runner: Sandbox
    work_dir: Path  # the run data and converted code; removed with the sandbox

    def close(self) -> None:
        self.runner.close()
        shutil.rmtree(self.work_dir, ignore_errors=True)


_lock = threading.Lock()
_kept: WarmSandbox | None = None
_timer: threading.Timer | None = None


def take(key: Hashable, open_new: Callable[[], WarmSandbox]) -> WarmSandbox:
    """The kept sandbox if it is ``key``'s, else a new one from ``open_new`` (a kept one of
    another key is closed first)."""
    global _kept
    with _lock:
        _stop_timer()
        kept, _kept = _kept, None
    if kept is not None:
        if kept.key == key:
            return kept
        kept.close()
    return open_new()


def give_back(warm: WarmSandbox, keep: bool) -> None:
    """After a chunk: keep ``warm`` for the next chunk of its key (closed after IDLE_SECONDS
    unused), or close it."""
    global _kept, _timer
    if not keep:
        warm.close()
        return
    with _lock:
        previous, _kept = _kept, warm
        _stop_timer()
        _timer = threading.Timer(IDLE_SECONDS, _close_if_idle, args=(warm,))
        _timer.daemon = True
        _timer.start()
    if previous is not None and previous is not warm:
        previous.close()


def close() -> None:
    """Close the kept sandbox, if any (the worker process is ending)."""
    global _kept
    with _lock:
        _stop_timer()
        kept, _kept = _kept, None
    if kept is not None:
        kept.close()


def _close_if_idle(warm: WarmSandbox) -> None:
    global _kept
    with _lock:
        if _kept is not warm:
            return  # taken again meanwhile
        _kept = None
    warm.close()


def _stop_timer() -> None:
    global _timer
    if _timer is not None:
        _timer.cancel()
        _timer = None
