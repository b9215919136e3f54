"""A run's clock (docs/scoring.md §1): what is charged, when it starts, when a run is stopped.

- **It starts with participant code**: just before the sandbox forks the run's process, so the
  upload's import is on it; the platform's own imports (torch, the runner) were done once in the
  warm sandbox and are not.
- **CPU clock** (the default on CPU classes): the CPU time of the run's sandbox, read from its
  cgroup (every thread and process it started, user and system). Waiting does not hide work: a
  wall-clock backstop of ``WALL_BACKSTOP_FACTOR`` × budget + grace stops a run that sleeps.
- **Wall clock** (GPU classes, a competition's ``scoring.clock: wall``, or a worker without
  cgroup CPU accounting): the time from the fork to the run's end (the run's data were copied
  before, and are handed over by a rename).

Either way the run is stopped once its charged time reaches budget + grace, or its wall time the
backstop. The end of a run is read once (:meth:`RunClock.read`): its wall time, its CPU time, and
two figures that tell the host's fault from the run's (:meth:`Reading.starved`), both of which
must be a quarter or more:

- **waited**: of its threads that lived at least half the run and wanted a CPU all that time
  (ran or queued, per the scheduler's ``/proc/<tid>/schedstat``, at least 90% of their life: so
  not one that slept, blocked or was stopped), the largest share of its life one queued;
- **others**: the share of its leased CPUs' time that processes outside the run took (the root
  cgroup's per-CPU usage in nanoseconds; without it, never starved), less the run's own CPU time and the worker process's (the worker reads the
  run's pipes: a run that floods them makes the worker busy, and must not count that as others).

A run cannot lower its own threads' priority (the run's seccomp filter refuses it), so it
cannot make itself queue; its processes queueing behind each other on an idle lease are not
others; a run that sleeps wants no CPU.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Literal

from worker.sandbox.cgroups import SandboxGroup

Clock = Literal["cpu", "wall"]
WALL_BACKSTOP_FACTOR = 3.0
# A run over on the wall clock is the host's fault when one of its threads waited for a CPU at
# least this share of the run's wall time (docs/scoring.md §1).
STARVED_SHARE = 0.25
SAMPLE_INTERVAL = 0.25


_TICK = os.sysconf("SC_CLK_TCK")
ROOT_PERCPU = "/sys/fs/cgroup/cpuacct/cpuacct.usage_percpu"  # cgroup v1: every task, in ns


def busy_seconds(cpus: tuple[int, ...]) -> float | None:
    """Time the given CPUs spent running anything, from the root cgroup's per-CPU usage in
    nanoseconds (v1 ``cpuacct``); None where there is none. ``/proc/stat`` is no substitute: it
    samples at each tick, and a thread that runs only between ticks would hide there, so
    without a precise count no run is called starved."""
    try:
        with open(ROOT_PERCPU) as fh:
            per_cpu = [int(v) for v in fh.read().split()]
        return sum(per_cpu[c] for c in cpus) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def precise() -> bool:
    """Whether others' use of a run's CPUs can be measured precisely here."""
    return busy_seconds((0,)) is not None


RUNNABLE_SHARE = 0.9  # a thread that wanted a CPU all its life: ran or queued this much of it
LIFE_SHARE = 0.5  # and lived at least this share of the run


def schedstat(tid: int) -> tuple[float, float, float] | None:
    """(time on a CPU, time runnable but queued for one, age) of thread ``tid`` so far."""
    try:
        with open(f"/proc/{tid}/schedstat") as fh:
            ran, queued = fh.read().split()[:2]
        with open(f"/proc/{tid}/stat", "rb") as fh:
            started = int(fh.read().rsplit(b")", 1)[1].split()[19]) / _TICK
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - started
        return int(ran) / 1e9, int(queued) / 1e9, age
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Reading:
    """A run's clocks at its end."""

    clock: Clock
    wall: float
    cpu: float | None  # None without cgroup CPU accounting
    waited_share: float | None  # longest wait of a thread for a CPU / wall time; None: unknown
    others_share: float | None = None  # of its leased CPUs' time, taken by other processes

    @property
    def charged(self) -> float:
        return self.cpu if self.clock == "cpu" and self.cpu is not None else self.wall

    @property
    def starved(self) -> bool:
        """A thread of the run queued for a CPU a real share of its time while other processes
        took a real share of its CPUs: a run over on the wall clock then is the host's fault."""
        return (
            self.waited_share is not None
            and self.others_share is not None
            and self.waited_share >= STARVED_SHARE
            and self.others_share >= STARVED_SHARE
        )


class RunClock:
    def __init__(
        self,
        clock: Clock,
        budget: float,
        grace: float,
        group: SandboxGroup | None,
        cpus: tuple[int, ...] = (),
    ) -> None:
        if clock == "cpu" and (group is None or group.cpu_seconds() is None):
            clock = "wall"  # no CPU accounting for this sandbox
        self.clock: Clock = clock
        self.budget, self.grace, self.group, self.cpus = budget, grace, group, cpus
        self.limit = budget + grace
        self.backstop = (WALL_BACKSTOP_FACTOR * budget + grace) if clock == "cpu" else self.limit
        self._wall0 = self._cpu0 = self._busy0 = None
        self._stat0: dict[int, tuple[float, float]] = {}  # threads there before (the zygote)
        # each thread's (ran, queued, lived) in the run, as last sampled
        self._during: dict[int, tuple[float, float, float]] = {}
        self._sampled = 0.0
        self._worker0 = 0.0

    def start(self) -> None:
        self._cpu0 = self.group.cpu_seconds() if self.group is not None else None
        for tid in self._threads():
            stat = schedstat(tid)
            if stat is not None:
                self._stat0[tid] = stat[:2]
        self._busy0 = busy_seconds(self.cpus) if self.cpus else None
        self._worker0 = time.process_time()
        self._wall0 = time.monotonic()

    def _threads(self) -> list[int]:
        if self.group is None:
            return []
        try:
            return self.group.thread_ids()
        except OSError:
            return []

    def sample(self, force: bool = False) -> None:
        """Each thread's time on and queued for a CPU so far (at most every SAMPLE_INTERVAL)."""
        now = time.monotonic()
        if not force and now - self._sampled < SAMPLE_INTERVAL:
            return
        self._sampled = now
        for tid in self._threads():
            stat = schedstat(tid)
            if stat is not None:
                ran0, queued0 = self._stat0.get(tid, (0.0, 0.0))
                lived = min(stat[2], now - self._wall0) if self._wall0 is not None else 0.0
                self._during[tid] = (stat[0] - ran0, stat[1] - queued0, lived)

    def wall(self) -> float:
        return time.monotonic() - self._wall0

    def cpu(self) -> float | None:
        if self._cpu0 is None or self.group is None:
            return None
        try:
            now = self.group.cpu_seconds()
        except OSError:
            return None
        return None if now is None else now - self._cpu0

    def charged(self) -> float:
        cpu = self.cpu() if self.clock == "cpu" else None
        return cpu if cpu is not None else self.wall()

    def expired(self) -> bool:
        """Charged time at budget + grace, or wall time at the backstop: stop the run."""
        self.sample()
        return self.charged() >= self.limit or self.wall() >= self.backstop

    def read(self) -> Reading:
        self.sample(force=True)
        raw_wall = time.monotonic() - self._wall0
        cpu = self.cpu()
        waited = others = None
        if self.group is not None and raw_wall > 0:
            waited = max(
                (
                    q / life
                    for r, q, life in self._during.values()
                    if life >= LIFE_SHARE * raw_wall and r + q >= RUNNABLE_SHARE * life
                ),
                default=0.0,
            )
        busy = busy_seconds(self.cpus) if self._busy0 is not None else None
        if busy is not None and cpu is not None and raw_wall > 0:
            worker = time.process_time() - self._worker0  # reading its pipes, on any CPU
            taken = busy - self._busy0 - cpu - worker
            others = max(0.0, taken) / (raw_wall * len(self.cpus))
        return Reading(self.clock, raw_wall, cpu, waited, others)
