"""`arena serve`: the whole platform in one command (API + one local worker), Ctrl-C to stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from core.settings import Settings


def worker_command(settings: Settings, concurrency: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        "-Q",
        "arena",
        "--without-gossip",
        "--without-mingle",
        "-n",
        f"arena-{os.getpid()}@{socket.gethostname()}",
    ]


def start_worker(settings: Settings) -> subprocess.Popen:
    env = dict(os.environ)
    env["ARENA_VAR_DIR"] = str(settings.var_dir)
    # own session: the terminal's Ctrl-C reaches `arena serve`, which then stops the worker
    return subprocess.Popen(worker_command(settings), env=env, start_new_session=True)


def stop_worker(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Warm shutdown, then cold after ``grace`` s, then kill; interrupted work is requeued at
    the next start (embedded) or redelivered by the broker (acks_late)."""
    for sig in (signal.SIGTERM, signal.SIGQUIT):
        if proc.poll() is not None:
            return
        try:
            proc.send_signal(sig)
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)
