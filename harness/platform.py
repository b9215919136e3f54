"""Start the real platform (`arena serve`: API + Celery worker) in a subprocess for a test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from core.competition_config import CompetitionConfig

ROOT = Path(__file__).resolve().parent.parent


def tiny_config(slug: str = "tiny", **scoring: object) -> CompetitionConfig:
    """A competition small enough for tests: 300 digits, 24 to forget, N = 4, small MLP, 3 s a run."""
    return CompetitionConfig.model_validate(
        {
            "slug": slug,
            "title": "Tiny test competition",
            "seed": 7,
            "dataset": {"loader": "sklearn_digits", "max_examples": 300},
            "split": {"forget_size": 24},
            "model": {"hidden": [32]},
            "recipe": {"epochs": 30},  # as the retrain example trains
            "open_when_ready": True,  # takes submissions at once, like the demo
            "scoring": {
                "n_models": 4,
                "budget_floor_seconds": 3.0,  # retrain and fine-tune fit with room on a busy CI box
                "timing_repeats": 1,
                "bootstrap_resamples": 200,
                **scoring,
            },
        }
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_platform(
    env_overrides: dict[str, str],
    log_path: Path,
    timeout: float = 90.0,
    require_worker: bool = True,
    prefix: tuple[str, ...] = (),
) -> Iterator[str]:
    """Yield the base URL of a running platform; stop it with SIGINT (Ctrl-C) afterwards.
    ``prefix``: a command that `arena serve` runs under (another user, a jail); then the
    interrupt goes to its whole process group, as a terminal's Ctrl-C would."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
    env.update({"PORT": str(port), "ARENA_SEED_DEMO": "false", "ARENA_HEARTBEAT_SECONDS": "1"})
    env.update(env_overrides)
    arena = str(Path(sys.executable).parent / "arena")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*prefix, arena, "serve"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=bool(prefix),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"arena serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}"
                )
            try:
                health = httpx.get(f"{url}/api/v1/health", timeout=2).json()
                if health.get("status") == "ok" or (
                    not require_worker and health.get("database") == "ok"
                ):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"platform not healthy after {timeout} s:\n{log_path.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield url
    finally:
        if prefix:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
            if prefix:
                _wait_until_closed(url, 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("arena serve did not stop within 60 s of Ctrl-C") from None


def _wait_until_closed(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/api/v1/health", timeout=1)
        except httpx.HTTPError:
            return
        time.sleep(0.5)
    raise AssertionError(f"the platform at {url} still answers {timeout} s after Ctrl-C")


def unprivileged(uid: int = 65534) -> tuple[str, ...]:
    """A prefix that runs a command as an unprivileged user (nobody) with no capabilities; empty
    when this process is not root already. Where Python lives under a home only root may enter
    (pyenv in /root), the command sees that home world-traversable, holding Python alone."""
    if os.geteuid() != 0:
        return ()
    view: list[str] = []
    for path in {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}:
        parts = Path(path).parts
        for i in range(2, len(parts)):
            parent = Path(*parts[:i])
            if not os.stat(parent).st_mode & 0o001:  # others may not enter it
                view += ["--perms", "0755", "--tmpfs", str(parent)]
                for j in range(i + 1, len(parts)):  # bubblewrap would make these 0700
                    view += ["--perms", "0755", "--dir", str(Path(*parts[:j]))]
                view += ["--ro-bind", path, path]
                break
    drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    drop += ["--inh-caps=-all", "--bounding-set=-all", "--"]
    return ("bwrap", "--dev-bind", "/", "/", *view, "--", *drop)


def wait_for_submission(client: httpx.Client, submission_id: int, timeout: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sub = client.get(f"/api/v1/submissions/{submission_id}").json()
        if sub["status"] in ("scored", "failed", "cancelled"):
            return sub
        time.sleep(0.5)
    raise AssertionError(f"submission {submission_id} not finished after {timeout} s: {sub}")


def wait_for_competition(url: str, slug: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        comp = httpx.get(f"{url}/api/v1/competitions/{slug}", timeout=5).json()
        if comp["status"] in ("ready", "open", "failed"):
            return comp
        time.sleep(0.5)
    raise AssertionError(f"competition {slug} not prepared after {timeout} s")


def start_worker(env: dict[str, str], log_path: Path, core: int | None = None) -> subprocess.Popen:
    """`arena worker` in its own session (so that a kill takes its Celery children too),
    pinned to CPU ``core`` when given."""
    arena = str(Path(sys.executable).parent / "arena")
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [arena, "worker"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=None if core is None else lambda: os.sched_setaffinity(0, {core}),
        )


def stop_workers(*procs: subprocess.Popen) -> None:
    """SIGTERM (a warm shutdown), then SIGKILL after 20 s, for every worker still running."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
