"""What one sandboxed run asks for (limits, request) and gives back (result), and how its
process starts (rlimits, cgroup, environment)."""

from __future__ import annotations

import ctypes
import resource
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from worker.sandbox.cgroups import SandboxGroup
from worker.sandbox.clock import Clock, Reading
from worker.sandbox.jail import (
    Jail,
)

Outcome = Literal[
    "finished", "over_budget", "timed_out", "crashed", "invalid_output", "out_of_memory",
    "starved",  # over on the wall clock while others took its CPUs: the host's fault, rerun
]  # fmt: skip
WATCH_INTERVAL = 0.25


@dataclass(frozen=True)
class RunLimits:
    memory_bytes: int = 4 << 30  # address space on CPU workers, and resident memory of the tree
    max_processes: int = 256  # processes and threads of the sandbox user
    max_file_bytes: int = 1 << 30  # largest file the run may write
    tmp_bytes: int = 1 << 30  # size of each private writable directory (/tmp, home)
    open_files: int = 1024
    log_bytes: int = 1 << 20  # kept of the run's stdout+stderr (head and tail)
    address_space_limit: bool = True  # RLIMIT_AS breaks CUDA: GPU workers rely on the watchdog
    cpus: tuple[int, ...] = ()  # the CPUs runs lease theirs from (empty: the worker's own)
    cgroup: bool = True  # False: the weaker limits of a machine without cgroups (tests)


@dataclass(frozen=True)
class RunRequest:
    code_path: Path
    data_path: Path  # safetensors with retain/forget/val tensors
    weights_path: Path  # the original model
    spec: dict  # model spec, seed, batch_size, device, threads
    budget_seconds: float  # charged time, the upload's import included (docs/scoring.md §1)
    grace_seconds: float
    log_path: Path
    jail: Jail | None = None  # None: unconfined (development only)
    limits: RunLimits = field(default_factory=RunLimits)
    runtime_site: Path | None = None  # the competition's packages, appended to sys.path
    runtime_packages: tuple[str, ...] = ()  # their "name version", for failure messages
    clock: Clock = "cpu"  # "cpu" falls back to "wall" where the sandbox has no CPU accounting


@dataclass(frozen=True)
class RunResult:
    outcome: Outcome
    seconds: float | None  # charged time on the run's clock (None if it never started)
    weights_path: Path | None  # returned weights, moved out of the run directory
    message: str  # participant-visible
    reading: Reading | None = None  # the run's clocks at its end
    phase: Literal["import", "run"] = "run"  # where it ended: importing the upload, or after
    # the message carries what the run chose (its report, exit code or signal, its weights'
    # tensors): never shown for a run on hidden data (worker/pipeline/published.py)
    reported: bool = False

    @property
    def clock(self) -> Clock:
        return self.reading.clock if self.reading is not None else "wall"


# With a pids cgroup per sandbox the per-user process limit must not bind: every sandbox on a
# host runs as the same user, so one tenant's threads would count against everyone's.
NPROC_WITH_CGROUP = 1 << 16


def preexec(limits: RunLimits, group: SandboxGroup | None) -> None:  # between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if group is not None:
        group.join()
    caps = [
        (resource.RLIMIT_NPROC, limits.max_processes if group is None else NPROC_WITH_CGROUP),
        (resource.RLIMIT_FSIZE, limits.max_file_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ]
    if limits.address_space_limit:
        caps.append((resource.RLIMIT_AS, limits.memory_bytes))
    for kind, value in caps:
        resource.setrlimit(kind, (value, value))


def child_env(req: RunRequest, home: str, tmp: str, clock: Clock) -> dict[str, str]:
    threads = str(req.spec["threads"])
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": threads,
        "OMP_WAIT_POLICY": "PASSIVE",  # idle threads sleep: CPU time is work, not spinning
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MALLOC_ARENA_MAX": "2",
        "ARENA_BUDGET_SECONDS": f"{req.budget_seconds:.3f}",
        "ARENA_CLOCK": clock,  # "cpu": time.process_time() is what counts; "wall": elapsed
    }


class SandboxDied(RuntimeError):
    """The pre-warmed process is gone or unresponsive; the sandbox must be restarted."""


class IsolationFailed(RuntimeError):
    """The platform could not isolate a run (before any participant code ran): its own fault."""
