"""Disjoint CPUs for concurrent sandboxes on one host (docs/scoring.md §1).

Each run leases ``threads`` CPUs of the worker's own for its duration: one lock file per CPU in a
folder that every worker of the host shares (``ARENA_CPU_LOCKS``, default under the system's
temporary folder), taken with ``flock`` all or none. The kernel drops a dead worker's locks with
its file descriptors, so a crash never leaks a CPU. The run's cgroup is confined to the leased
CPUs (:meth:`worker.sandbox.cgroups.SandboxGroup.set_cpus`): a busy neighbour cannot run on them,
and a run cannot reach past them. The original training is timed on a lease too
(:func:`worker.ml.preparation.time_original_training`, pinned to its lease), so budget and runs
see the same CPUs.

A run waits for its lease before its clock starts; waiting is never charged.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

WAIT_STEP = 0.05
SYSFS = Path("/sys/devices/system/cpu")


def lock_dir() -> Path:
    return Path(os.environ.get("ARENA_CPU_LOCKS") or Path(tempfile.gettempdir()) / "arena-cpus")


def pool() -> tuple[int, ...]:
    """The CPUs this worker may lease from (its own affinity)."""
    return tuple(sorted(os.sched_getaffinity(0)))


def capacity(threads: int, cpus: tuple[int, ...] | None = None) -> int:
    """How many sandboxes of ``threads`` CPUs this host holds at once (whole cores each)."""
    cpus = pool() if cpus is None else cpus
    per_core = max(len(u) for u in cores(cpus)) if cpus else 1
    per_sandbox = -(-max(1, threads) // per_core) * per_core  # whole cores
    return max(1, len(cpus) // per_sandbox)


class NoCpus(RuntimeError):
    """No lease within the wait (the host is full for that long)."""


@dataclass
class Lease:
    cpus: tuple[int, ...]
    _fds: list[int]

    def release(self) -> None:
        for fd in self._fds:
            try:
                os.close(fd)  # closing drops the flock
            except OSError:
                pass
        self._fds = []


def cores(cpus: tuple[int, ...]) -> list[tuple[int, ...]]:
    """``cpus`` grouped by physical core (SMT siblings together, from sysfs; a CPU whose
    topology cannot be read is a core of its own): a lease takes whole cores, so that no two
    sandboxes share one core's execution units."""
    seen: set[int] = set()
    units = []
    for cpu in cpus:
        if cpu in seen:
            continue
        siblings = {cpu}
        path = SYSFS / f"cpu{cpu}" / "topology" / "thread_siblings_list"
        try:
            for part in path.read_text().strip().split(","):
                low, _, high = part.partition("-")
                siblings.update(range(int(low), int(high or low) + 1))
        except (OSError, ValueError):
            pass
        unit = tuple(sorted(c for c in siblings if c in cpus))
        seen.update(unit)
        units.append(unit)
    return units


def _open_lock(path: Path) -> int:
    """A CPU's lock file, opened read-only (flock needs no more), so that workers of other
    users on the host can take a lock on a file another one created."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        os.fchmod(fd, 0o644)
    except OSError:  # another user's file: readable already
        pass
    return fd


def _try(cpus: tuple[int, ...], threads: int, folder: Path) -> Lease | None:
    taken: list[tuple[int, int]] = []
    for unit in cores(cpus):
        fds = []
        for cpu in unit:  # a core whole, or not at all
            fd = _open_lock(folder / f"cpu-{cpu}.lock")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                break
            fds.append((cpu, fd))
        if len(fds) < len(unit):
            for _, fd in fds:
                os.close(fd)
            continue
        taken += fds
        if len(taken) >= threads:
            return Lease(tuple(c for c, _ in taken), [f for _, f in taken])
    for _, fd in taken:  # all or none: never hold part of a lease while waiting
        os.close(fd)
    return None


def acquire(
    threads: int, *, wait_seconds: float = 3600.0, cpus: tuple[int, ...] | None = None
) -> Lease:
    """``threads`` CPUs of ``cpus`` (default: this worker's) that no other lease holds, waiting
    up to ``wait_seconds`` for them. Asking for more CPUs than there are leases them all."""
    cpus = pool() if cpus is None else cpus
    threads = max(1, min(threads, len(cpus)))
    folder = lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(folder, 0o1777)  # workers of other users on the host share it
    except OSError:
        pass
    deadline = time.monotonic() + wait_seconds
    while True:
        lease = _try(cpus, threads, folder)
        if lease is not None:
            return lease
        if time.monotonic() >= deadline:
            raise NoCpus(f"no {threads} free CPUs of {list(cpus)} within {wait_seconds:.0f} s")
        time.sleep(WAIT_STEP)


@contextmanager
def leased(threads: int, *, wait_seconds: float = 3600.0):
    lease = acquire(threads, wait_seconds=wait_seconds)
    try:
        yield lease
    finally:
        lease.release()


@contextmanager
def pinned(cpus: tuple[int, ...]):
    """Every thread of this process (torch's pool included) on ``cpus`` meanwhile."""
    tasks = [int(t) for t in os.listdir("/proc/self/task")]
    before = {t: os.sched_getaffinity(t) for t in tasks}
    for t in tasks:
        try:
            os.sched_setaffinity(t, cpus)
        except OSError:
            pass
    try:
        yield
    finally:
        for t, mask in before.items():
            try:
                os.sched_setaffinity(t, mask)
            except OSError:  # the thread ended meanwhile
                pass
