"""Can this machine confine participant code? Asked once when `arena serve` and `arena worker`
start, before they take work.

:func:`check` builds a real jail (:func:`worker.sandbox.jail.detect`: bubblewrap, the
namespaces, the unprivileged user, the seccomp filters, one isolated run) and answers with a
:class:`Readiness`: ready and which protections are in force, or not ready with the exact reason
and the command that fixes it on this system (:func:`diagnose`). A worker that is not ready
takes no work from the queue (:mod:`worker.tasks`) and says so in /health, so that no submission
ever fails as ``infrastructure`` for want of a sandbox. ``python -m worker.sandbox.readiness``
prints the same report.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

UNSAFE_SWITCH = "ARENA_UNSAFE_NO_SANDBOX=1"
APPARMOR_PROFILE = """abi <abi/4.0>,
include <tunables/global>
profile bwrap /usr/bin/bwrap flags=(unconfined) {
  userns,
}"""


@dataclass(frozen=True)
class Readiness:
    ready: bool
    protections: list[str] = field(default_factory=list)  # in force, when ready
    reason: str | None = None  # why not, when not ready
    fix: str | None = None  # the command (or switch) that fixes it here
    unconfined: bool = False  # not ready, but the development switch runs code anyway

    def lines(self) -> list[str]:
        if self.ready:
            return ["sandbox: ready", *(f"  - {p}" for p in self.protections)]
        head = "sandbox: NOT READY: participant code cannot be confined here"
        out = [head, f"  reason: {self.reason}"]
        if self.fix:
            out.append(f"  fix: {self.fix}")
        if self.unconfined:
            out.append(f"  {UNSAFE_SWITCH} is set: participant code runs UNCONFINED (development)")
        else:
            out.append("  this worker takes no scoring work until it is fixed (see /health)")
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "protections": self.protections,
            "reason": self.reason,
            "fix": self.fix,
            "unconfined": self.unconfined,
        }


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def diagnose(error: str, *, system: str | None = None, euid: int | None = None) -> str:
    """The command that fixes ``error`` (the jail's failure) on this system."""
    system = system or platform.system()
    euid = os.geteuid() if euid is None else euid
    if system != "Linux":
        return (
            f"participant code cannot be confined on {system} (the sandbox needs Linux "
            f"namespaces); for your own code only, start with {UNSAFE_SWITCH}, or run the "
            "workers on Linux"
        )
    if shutil.which("bwrap") is None or "bubblewrap (bwrap) is not installed" in error:
        return "sudo apt-get install bubblewrap   (Fedora: sudo dnf install bubblewrap)"
    if "libseccomp" in error:
        return "sudo apt-get install libseccomp2"
    if "sandbox user" in error:
        return "sudo useradd --system --no-create-home --shell /usr/sbin/nologin arena-sandbox"
    if "setpriv" in error:
        return "sudo apt-get install util-linux   (it provides /usr/bin/setpriv)"
    if euid != 0:
        if _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
            return (
                "Ubuntu restricts unprivileged user namespaces through AppArmor: allow them "
                "for bubblewrap with a profile, printf '"
                + APPARMOR_PROFILE.replace("\n", "\\n")
                + "\\n' | sudo tee /etc/apparmor.d/bwrap && sudo apparmor_parser -r "
                "/etc/apparmor.d/bwrap   (or, for the whole machine: sudo sysctl -w "
                "kernel.apparmor_restrict_unprivileged_userns=0)"
            )
        if _read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
            return (
                "unprivileged user namespaces are disabled: sudo sysctl -w "
                "kernel.unprivileged_userns_clone=1 (keep it in /etc/sysctl.d/)"
            )
        if _read("/proc/sys/user/max_user_namespaces") == "0":
            return (
                "user namespaces are disabled: sudo sysctl -w user.max_user_namespaces=15000 "
                "(keep it in /etc/sysctl.d/)"
            )
    return (
        "bubblewrap cannot create namespaces here; inside a container, allow them (docker run "
        "--security-opt seccomp=unconfined --security-opt apparmor=unconfined, or run the "
        "worker on the host); elsewhere check that user namespaces are enabled "
        "(sysctl user.max_user_namespaces)"
    )


def check(
    sandbox_user: str = "arena-sandbox", allow_unconfined: bool = False, threads: int = 0
) -> Readiness:
    """Build a real jail and report (see the module's docstring); ``threads``: CPUs per run
    (0: every CPU of the worker's), for how many sandboxes the host holds at once."""
    if platform.system() != "Linux":
        reason = f"{platform.system()} has no Linux namespaces"
        return Readiness(False, reason=reason, fix=diagnose(reason), unconfined=allow_unconfined)
    from worker.sandbox import cgroups
    from worker.sandbox.jail import SandboxUnavailable, detect

    try:
        jail = detect(sandbox_user)
    except SandboxUnavailable as exc:
        reason = str(exc)
        return Readiness(False, reason=reason, fix=diagnose(reason), unconfined=allow_unconfined)
    from worker import cpus

    limits = cgroups.detect()
    pool = cpus.pool()
    per_run = min(len(pool), threads or len(pool))
    user = (
        f"runs as the unprivileged user {sandbox_user!r} (uid {jail.uid})"
        if jail.uid is not None
        else f"runs as this user (uid {os.geteuid()}) inside its own user namespace"
    )
    return Readiness(
        True,
        protections=[
            "network: none (a network namespace of its own)",
            "processes: its own PID, IPC and mount namespaces; nothing left between runs",
            f"memory and processes: {limits.protections}",
            "system calls: seccomp filters (no tracing, no new namespaces or mounts, no kernel "
            "keyrings, BPF or io_uring)",
            f"user: {user}, no capabilities",
            f"clock (CPU-clock competitions): {limits.clock}; GPU classes and wall-clock "
            "competitions: wall time",
            f"CPUs: each run leases {per_run} of this worker's {len(pool)} for itself; this "
            f"host runs {cpus.capacity(per_run, pool)} sandbox(es) at once, others wait",
        ],
    )


@lru_cache(maxsize=4)
def at_start(sandbox_user: str, allow_unconfined: bool, threads: int = 0) -> Readiness:
    """This process's report, made once (the worker's start; its pool's children inherit it)."""
    return check(sandbox_user, allow_unconfined, threads)


def takes_work(report: Readiness) -> bool:
    """Whether a worker with this report may take work from the queues."""
    return report.ready or report.unconfined


def main() -> int:
    from core.settings import get_settings

    settings = get_settings()
    report = check(settings.sandbox_user, settings.unsafe_no_sandbox, settings.worker_threads)
    print("\n".join(report.lines()))
    return 0 if report.ready else 1


if __name__ == "__main__":
    sys.exit(main())
