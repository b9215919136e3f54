"""The sandbox's system-call filters, built with libseccomp (through ``pyseccomp``) in the worker.

Two filters stack (a process can only ever add restrictions):

- the **jail filter**, applied by bubblewrap (``--seccomp FD``) to everything in the sandbox,
  the pre-warmed zygote included: no io_uring, BPF, perf events, kernel keyrings, tracing of
  other processes, kernel modules, kexec, reboot, swap, accounting, userfaultfd, handle-based
  opens, I/O ports or new user namespaces;
- the **run filter**, loaded by each run's own process (``worker.sandbox.isolation``) after the
  platform made its fresh mounts and namespaces and before any participant code is imported: it
  adds every way of changing the mount or namespace layout (mount, umount, pivot_root, chroot,
  unshare, setns, clone with namespace flags, the new mount API) and of changing capabilities.

Refused calls fail with EPERM (``clone3``, whose flags a filter cannot read, with ENOSYS so that
the C library falls back to ``clone``), so that a library probing for a feature sees "not
permitted" instead of being killed. Both programs are exported as raw BPF (what the kernel loads)
and cached per process.
"""

from __future__ import annotations

import errno
import socket
import tempfile
from functools import lru_cache

# Namespace flags of clone(2)/unshare(2).
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080
NAMESPACE_FLAGS = (
    CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
    | CLONE_NEWTIME
)

JAIL_REFUSED = (
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "bpf", "perf_event_open", "userfaultfd",
    "keyctl", "add_key", "request_key",
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "acct", "syslog", "quotactl", "quotactl_fd",
    "open_by_handle_at", "name_to_handle_at", "lookup_dcookie",
    "iopl", "ioperm", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "fanotify_init", "vhangup", "nfsservctl", "uselib",
)  # fmt: skip
RUN_REFUSED = (
    "mount", "umount2", "pivot_root", "chroot", "setns", "unshare",
    "fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr",
    "capset", "sethostname", "setdomainname",
    # its scheduling is the platform's: a run that lowers its own threads' priority could make
    # itself look starved by the host (docs/scoring.md §1)
    "setpriority", "sched_setscheduler", "sched_setattr", "ioprio_set",
    # what Docker's default profile refuses too
    "modify_ldt", "sync", "syncfs",
)  # fmt: skip
SOCKET_FAMILIES = (socket.AF_UNIX,)  # its own pipes; nothing that could leave the namespace


class SeccompUnavailable(RuntimeError):
    """libseccomp or its binding is missing: the sandbox cannot be built."""


def _seccomp():
    try:
        import pyseccomp
    except (ImportError, OSError, RuntimeError) as exc:  # it loads libseccomp.so.2 at import
        raise SeccompUnavailable(
            f"libseccomp is needed for the sandbox's system-call filter ({exc}); "
            "install Debian's `libseccomp2` and the Python package `pyseccomp` (make system)"
        ) from None
    return pyseccomp


def _refuse(flt, sc, names: tuple[str, ...]) -> None:
    for name in names:
        try:
            flt.add_rule(sc.ERRNO(errno.EPERM), name)
        except (OSError, RuntimeError, ValueError):  # a call this architecture does not have
            continue


def _export(flt) -> bytes:
    with tempfile.TemporaryFile() as fh:
        flt.export_bpf(fh)
        fh.seek(0)
        return fh.read()


@lru_cache(maxsize=1)
def jail_filter() -> bytes:
    """The BPF program bubblewrap applies to the whole sandbox."""
    sc = _seccomp()
    flt = sc.SyscallFilter(defaction=sc.ALLOW)
    _refuse(flt, sc, JAIL_REFUSED)
    for call in ("clone", "unshare"):  # a new user namespace: never
        flt.add_rule(
            sc.ERRNO(errno.EPERM), call, sc.Arg(0, sc.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)
        )
    return _export(flt)


@lru_cache(maxsize=1)
def run_filter() -> bytes:
    """The BPF program each run's process adds before participant code is imported."""
    sc = _seccomp()
    flt = sc.SyscallFilter(defaction=sc.ALLOW)
    _refuse(flt, sc, RUN_REFUSED)
    for flag in _bits(NAMESPACE_FLAGS):  # clone() that makes any namespace
        flt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for call in ("socket", "socketpair"):  # socket families by allowlist
        flt.add_rule(
            sc.ERRNO(errno.EAFNOSUPPORT), call, *(sc.Arg(0, sc.NE, f) for f in SOCKET_FAMILIES)
        )
    return _export(flt)


def _bits(mask: int) -> list[int]:
    return [1 << i for i in range(mask.bit_length()) if mask >> i & 1]


# The worker's container (docker-compose.yml): the jail's refusals minus what bubblewrap itself
# needs out there (new user namespaces are how it builds the jail).
CONTAINER_REFUSED = JAIL_REFUSED


def docker_profile() -> dict:
    """A Docker seccomp profile for worker containers, in place of ``seccomp=unconfined``."""
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": [
            "SCMP_ARCH_X86_64",
            "SCMP_ARCH_X86",
            "SCMP_ARCH_X32",
            "SCMP_ARCH_AARCH64",
            "SCMP_ARCH_ARM",
        ],
        "syscalls": [
            {
                "names": sorted(CONTAINER_REFUSED),
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno.EPERM,
            },
        ],
    }


if __name__ == "__main__":
    import json
    import sys

    if sys.argv[1:] != ["docker-profile"]:
        raise SystemExit(
            "usage: python -m worker.sandbox.seccomp docker-profile > deploy/seccomp-worker.json"
        )
    print(json.dumps(docker_profile(), indent=2))
