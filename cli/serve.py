"""`arena serve`: the whole platform in one command (API + one local worker), Ctrl-C to stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from server.settings import Settings


def worker_command(settings: Settings, concurrency: int = 1) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
        "--loglevel=INFO", f"--concurrency={concurrency}", "-Q", "arena",
        "--without-gossip", "--without-mingle", "-n", f"arena-{os.getpid()}@{socket.gethostname()}",
    ]


def start_worker(settings: Settings) -> subprocess.Popen:
    env = dict(os.environ)
    env["ARENA_VAR_DIR"] = str(settings.var_dir)
    # own session: the terminal's Ctrl-C reaches `arena serve`, which then stops the worker
    return subprocess.Popen(worker_command(settings), env=env, start_new_session=True)


def stop_worker(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
