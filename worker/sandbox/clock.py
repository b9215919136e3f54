"""A run's clock (docs/scoring.md §1): what is charged, when it starts, when a run is stopped.

- **It starts with participant code**: just before the sandbox forks the run's process, so the
  upload's import is on it; the platform's own imports (torch, the runner) were done once in the
  warm sandbox and are not.
- **CPU clock** (the default on CPU classes): the CPU time of the run's sandbox, read from its
  cgroup (every thread and process it started, user and system). Waiting does not hide work: a
  wall-clock backstop of ``WALL_BACKSTOP_FACTOR`` × budget + grace stops a run that sleeps.
- **Wall clock** (GPU classes, a competition's ``scoring.clock: wall``, or a worker without
  cgroup CPU accounting): the time from the fork to the run's end, less the time the platform
  spends copying the run's data in.

Either way the run is stopped once its charged time reaches budget + grace, or its wall time the
backstop. The end of a run is read once (:meth:`RunClock.read`): its wall time, its CPU time, and
the longest time any of its threads spent runnable but waiting for a CPU (the scheduler's
``run_delay`` in ``/proc/<tid>/schedstat``, sampled while it runs), and the share of its leased
CPUs' time that processes outside the run took (``/proc/stat`` less the run's own CPU time).
That tells the host's fault from the run's (:meth:`Reading.starved`): both must be a quarter or
more. A run that sleeps queues for nothing, however busy the host; a run whose threads queue
behind each other on an idle host took its CPUs itself; a run that queued while others took its
CPUs was starved.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


def busy_seconds(cpus: tuple[int, ...]) -> float | None:
    """Time the given CPUs spent running anything (user, nice, system, irq, softirq, steal),
    from ``/proc/stat``; None where it cannot be read."""
    wanted = {f"cpu{c}" for c in cpus}
    total = 0
    try:
        with open("/proc/stat") as fh:
            for line in fh:
                parts = line.split()
                if parts and parts[0] in wanted:
                    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, parts[1:9])
                    total += user + nice + system + irq + softirq + steal
    except (OSError, ValueError):
        return None
    return total / _TICK


def run_delay_seconds(tid: int) -> float | None:
    """How long thread ``tid`` has been runnable but waiting for a CPU, in all."""
    try:
        with open(f"/proc/{tid}/schedstat") as fh:
            return int(fh.read().split()[1]) / 1e9
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
        self._paused = 0.0
        self._wall0 = self._cpu0 = self._busy0 = None
        self._delay0: dict[int, float] = {}  # threads there before the run (the zygote)
        self._waited: dict[int, float] = {}  # each thread's wait during the run, last sampled
        self._sampled = 0.0

    def start(self) -> None:
        self._cpu0 = self.group.cpu_seconds() if self.group is not None else None
        for tid in self._threads():
            delay = run_delay_seconds(tid)
            if delay is not None:
                self._delay0[tid] = delay
        self._busy0 = busy_seconds(self.cpus) if self.cpus else None
        self._wall0 = time.monotonic()

    def _threads(self) -> list[int]:
        if self.group is None:
            return []
        try:
            return self.group.thread_ids()
        except OSError:
            return []

    def sample(self, force: bool = False) -> None:
        """Each thread's wait for a CPU so far (at most every SAMPLE_INTERVAL)."""
        now = time.monotonic()
        if not force and now - self._sampled < SAMPLE_INTERVAL:
            return
        self._sampled = now
        for tid in self._threads():
            delay = run_delay_seconds(tid)
            if delay is not None:
                self._waited[tid] = delay - self._delay0.get(tid, 0.0)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Platform work while the run waits (copying its data in): not on the wall clock."""
        start = time.monotonic()
        try:
            yield
        finally:
            self._paused += time.monotonic() - start

    def wall(self) -> float:
        return time.monotonic() - self._wall0 - self._paused

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
            waited = max(self._waited.values(), default=0.0) / raw_wall
        busy = busy_seconds(self.cpus) if self._busy0 is not None else None
        if busy is not None and cpu is not None and raw_wall > 0:
            others = max(0.0, busy - self._busy0 - cpu) / (raw_wall * len(self.cpus))
        return Reading(self.clock, raw_wall - self._paused, cpu, waited, others)
