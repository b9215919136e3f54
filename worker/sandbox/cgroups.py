"""One control group per sandbox: its memory (shared memory, memfd and tmpfs pages included), its
processes and its CPUs, enforced by the kernel, and the CPU time it used (the run's clock,
docs/scoring.md §1).

cgroup v2 is used where its memory, pids and cpuset controllers are delegated to the worker; v1
(the memory, pids and cpuset hierarchies, as root) where that is what the machine has. CPU time
is read from v2's ``cpu.stat`` (present in every v2 group) or v1's ``cpuacct`` hierarchy where it
is mounted and writable; without it the run's clock is the wall clock (readiness says so). Which one
is in force, or that none is (a worker that is not root on a v1 machine: then the memory
watchdog over the process tree and the per-user process limit are what remains), is detected once
per worker process (:func:`detect`) and logged at start.

The sandbox's first process joins its group between fork and exec (:meth:`SandboxGroup.join`,
async-signal-safe enough: a write of "0" to each ``cgroup.procs``), so everything it starts is
counted from the first instruction. The group is removed once the sandbox is gone.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)
ROOT = Path("/sys/fs/cgroup")
PARENT = "arena-sandboxes"
V1_CONTROLLERS = ("memory", "pids", "cpuset")
V1_ACCOUNTING = "cpuacct"  # optional: the CPU clock where it is there


@dataclass(frozen=True)
class Cgroups:
    version: int | None  # 2, 1 or None (not available)
    parents: dict[str, Path] = field(default_factory=dict)  # controller (v1) or "" (v2) -> dir
    reason: str = ""
    cpu_accounting: bool = False  # the group's CPU time can be read (the CPU clock)

    @property
    def protections(self) -> str:
        if self.version is None:
            return f"no cgroups ({self.reason}): memory by a watchdog over the process tree, processes by the per-user limit"
        return f"cgroup v{self.version}: memory (shared memory and tmpfs included), processes and CPUs per sandbox"

    @property
    def clock(self) -> str:
        """What a CPU-clock competition is timed by on this worker."""
        if self.cpu_accounting:
            return (
                "CPU time of each run's sandbox (its cgroup's CPU usage, every thread and process)"
            )
        return (
            "wall time: no cgroup CPU accounting here (cpuacct not writable), so a busy host "
            "can push a run over its budget"
        )


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def _v2() -> Cgroups | None:
    if not (ROOT / "cgroup.controllers").is_file():
        return None
    me = Path("/proc/self/cgroup").read_text().splitlines()
    unified = next((line.split(":", 2)[2] for line in me if line.startswith("0::")), None)
    if unified is None:
        return None
    base = ROOT / unified.lstrip("/")
    wanted = {"memory", "pids", "cpuset"}
    have = set((base / "cgroup.controllers").read_text().split()) if base.exists() else set()
    if not wanted <= have or not _writable(base):
        return None
    parent = base / PARENT
    try:
        parent.mkdir(exist_ok=True)
        (base / "cgroup.subtree_control").write_text("+memory +pids +cpuset")
        (parent / "cgroup.subtree_control").write_text("+memory +pids +cpuset")
    except OSError:
        return None
    return Cgroups(2, {"": parent}, cpu_accounting=True)  # cpu.stat is in every v2 group


def _v1() -> Cgroups | None:
    parents = {}
    for controller in V1_CONTROLLERS:
        root = ROOT / controller
        if not _writable(root):
            return None
        parent = root / PARENT
        try:
            parent.mkdir(exist_ok=True)
            if controller == "cpuset":  # a v1 cpuset starts empty: inherit the root's
                for name in ("cpuset.cpus", "cpuset.mems"):
                    if not (parent / name).read_text().strip():
                        (parent / name).write_text((root / name).read_text())
            if controller == "memory" and (parent / "memory.use_hierarchy").exists():
                try:
                    (parent / "memory.use_hierarchy").write_text("1")
                except OSError:
                    pass
        except OSError:
            return None
        parents[controller] = parent
    accounting = ROOT / V1_ACCOUNTING
    if _writable(accounting):
        try:
            (accounting / PARENT).mkdir(exist_ok=True)
            parents[V1_ACCOUNTING] = accounting / PARENT
        except OSError:
            pass
    return Cgroups(1, parents, cpu_accounting=V1_ACCOUNTING in parents)


def _remove_stale(found: Cgroups) -> None:
    """Groups of sandboxes whose worker died without removing them (their processes are gone
    with the sandbox): removed, so that a host's hierarchy does not fill up."""
    for parent in found.parents.values():
        for group in parent.glob("sb-*"):
            pid = group.name.split("-")[1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                try:
                    group.rmdir()
                except OSError:
                    pass


@lru_cache(maxsize=1)
def detect() -> Cgroups:
    found = _v2() or _v1()
    if found is not None:
        _remove_stale(found)
    if found is None:
        reason = (
            "the worker is not root"
            if os.geteuid()
            else "no writable memory, pids and cpuset controllers"
        )
        found = Cgroups(None, reason=reason)
    log.info("sandbox limits: %s", found.protections)
    return found


class SandboxGroup:
    """The control group of one sandbox."""

    def __init__(
        self, cgroups: Cgroups, memory_bytes: int, max_pids: int, cpus: tuple[int, ...]
    ) -> None:
        self.cgroups = cgroups
        name = f"sb-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.dirs = [parent / name for parent in cgroups.parents.values()]
        for d in self.dirs:
            d.mkdir()
        cpu_list = ",".join(str(c) for c in cpus)
        if cgroups.version == 2:
            d = self.dirs[0]
            (d / "memory.max").write_text(str(memory_bytes))
            if (d / "memory.swap.max").exists():
                (d / "memory.swap.max").write_text("0")
            (d / "pids.max").write_text(str(max_pids))
            if cpu_list:
                (d / "cpuset.cpus").write_text(cpu_list)
        else:
            mem, pids, cpuset = (cgroups.parents[c] / name for c in V1_CONTROLLERS)
            (mem / "memory.limit_in_bytes").write_text(str(memory_bytes))
            if (mem / "memory.memsw.limit_in_bytes").exists():  # no swapping past the limit
                try:
                    (mem / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
                except OSError:
                    pass
            (pids / "pids.max").write_text(str(max_pids))
            (cpuset / "cpuset.mems").write_text((cpuset.parent / "cpuset.mems").read_text())
            (cpuset / "cpuset.cpus").write_text(
                cpu_list or (cpuset.parent / "cpuset.cpus").read_text()
            )
        self.procs = [str(d / "cgroup.procs") for d in self.dirs]

    def set_cpus(self, cpus: tuple[int, ...]) -> None:
        """Confine the sandbox (every process and thread in it, now and later) to ``cpus``."""
        name = self.dirs[0].name
        folder = (
            self.dirs[0] if self.cgroups.version == 2 else self.cgroups.parents["cpuset"] / name
        )
        (folder / "cpuset.cpus").write_text(",".join(str(c) for c in cpus))

    def thread_ids(self) -> list[int]:
        """Every thread now in the group (host thread ids)."""
        name = "cgroup.threads" if self.cgroups.version == 2 else "tasks"
        return [int(t) for t in (self.dirs[0] / name).read_text().split()]

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by every process and thread that was ever in the group (user
        and system), or None without CPU accounting."""
        if not self.cgroups.cpu_accounting:
            return None
        name = self.dirs[0].name
        if self.cgroups.version == 2:
            for line in (self.dirs[0] / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
            return None
        usage = self.cgroups.parents[V1_ACCOUNTING] / name / "cpuacct.usage"
        return int(usage.read_text()) / 1e9

    def join(self) -> None:
        """Move the calling process into the group (between fork and exec)."""
        for path in self.procs:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def oom_kills(self) -> int:
        """How often the kernel killed a process of this group for its memory limit."""
        if self.cgroups.version == 2:
            text = (self.dirs[0] / "memory.events").read_text()
        else:
            text = (
                self.cgroups.parents["memory"] / self.dirs[0].name / "memory.oom_control"
            ).read_text()
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def remove(self) -> None:
        for d in self.dirs:
            for _ in range(50):  # the last processes may still be exiting
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
