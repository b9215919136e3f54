"""Fresh namespaces and mounts for each run, made inside the jail before participant code exists.

The jail (:mod:`worker.sandbox.jail`) is one user namespace per submission in which the pre-warmed zygote
holds CAP_SYS_ADMIN (never the participant). For every run the zygote forks a **supervisor**
that calls :func:`isolate_run`:

- new mount, IPC, PID, network and UTS namespaces: no SysV/POSIX IPC object, abstract socket,
  process or host name of an earlier run exists in this one;
- fresh, size- and inode-capped tmpfs mounts on every writable path (/tmp, the home directory,
  the output directory, /dev/shm), the Python installation bound under /tmp kept in place;
- every other mount read-only, and the host directory that receives the returned weights hidden
  under an empty read-only mount (the supervisor keeps a descriptor of it).

The supervisor forks the run's init (PID 1 of the new PID namespace, platform code), which calls
:func:`enter_run`: a fresh /proc that shows only the run's processes, with the host-wide figures
(memory, load, CPU times, uptime, swaps, disks, the kernel's command line) replaced by the
run's own limits, and no capabilities. The init forks the participant's process, which keeps no
file descriptor but its own pipes and adds the run's seccomp filter before participant code is
imported. When the init exits, the kernel kills everything the run started and the namespaces
and mounts vanish with them.

Linux only (ctypes over libc); kernel 5.2 or newer for ``open_tree``/``move_mount``.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
RUN_NAMESPACES = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME = 1024, 2048, 1 << 21, 1 << 24
# statvfs f_flag bits -> mount flags (what a read-only remount must keep: locked flags)
_ST_TO_MS = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: MS_NOATIME,
             2048: MS_NODIRATIME, 4096: MS_RELATIME}  # fmt: skip

SYS_OPEN_TREE, SYS_MOVE_MOUNT = 428, 429  # the same number on every architecture
OPEN_TREE_CLONE, OPEN_TREE_CLOEXEC, AT_RECURSIVE = 1, 0o2000000, 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
AT_FDCWD = -100

PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_CAP_AMBIENT = 38, 24, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
CAP_LAST = 63
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# Host-wide figures that /proc shows in every PID namespace: replaced by the run's own limits.
PROC_MASKED = ("meminfo", "loadavg", "stat", "vmstat", "zoneinfo", "swaps", "diskstats",
               "partitions", "uptime", "interrupts", "softirqs", "slabinfo", "buddyinfo",
               "pagetypeinfo", "schedstat", "timer_list", "kallsyms", "modules", "cmdline")  # fmt: skip


class IsolationError(RuntimeError):
    """The platform could not build a run's isolation (before any participant code ran)."""


@dataclass(frozen=True)
class RunLayout:
    """Paths inside the jail (see :meth:`worker.sandbox.jail.Jail.command`)."""

    fresh: tuple[str, ...]  # a new tmpfs on each, per run
    result_dir: str  # host-backed: receives the returned weights; hidden from the run
    tmp_bytes: int
    memory_bytes: int
    inodes: int = 65536


def _check(ret: int, what: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise IsolationError(f"{what}: {os.strerror(err)}")
    return ret


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo", "rb") as fh:
        for line in fh:
            field = line.split(b" ")[4]
            points.append(field.decode().replace("\\040", " ").replace("\\011", "\t"))
    return points


def _under(path: str, root: str) -> bool:
    return path != root and path.startswith(root.rstrip("/") + "/")


def _fresh_tmpfs(target: str, size: int, inodes: int, mode: str) -> None:
    """A new tmpfs on ``target``; mounts below it (the Python installation under /tmp) stay."""
    below = [m for m in _mount_points() if _under(m, target)]
    tops = [m for m in below if not any(_under(m, other) for other in below)]
    kept = []
    for point in tops:
        fd = _libc.syscall(
            SYS_OPEN_TREE,
            AT_FDCWD,
            point.encode(),
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE,
        )
        kept.append((point, _check(fd, f"open_tree {point}")))
    _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={size},nr_inodes={inodes},mode={mode}")  # fmt: skip
    for point, fd in kept:
        os.makedirs(point, exist_ok=True)
        _check(
            _libc.syscall(
                SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, point.encode(), MOVE_MOUNT_F_EMPTY_PATH
            ),
            f"move_mount {point}",
        )
        os.close(fd)


def _remount_read_only(keep_writable: set[str]) -> None:
    for point in sorted(set(_mount_points()), key=len):
        if point in keep_writable or point == "/proc" or _under(point, "/proc"):
            continue
        try:
            f_flag = os.statvfs(point).f_flag
        except OSError:
            continue  # hidden below another mount
        if f_flag & 1:
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for st, ms in _ST_TO_MS.items():
            if f_flag & st:
                flags |= ms
        _mount(None, point, None, flags)


def isolate_run(layout: RunLayout) -> int:
    """In the run's supervisor: new namespaces and mounts. Returns a descriptor of the result
    directory, which the run's own process never holds."""
    _check(_libc.unshare(RUN_NAMESPACES), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    result_fd = os.open(layout.result_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    for target in layout.fresh:
        _fresh_tmpfs(target, layout.tmp_bytes, layout.inodes, "1777")
    _mount("tmpfs", layout.result_dir, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
           "size=4k,nr_inodes=2,mode=0")  # fmt: skip
    _remount_read_only(set(layout.fresh) | {layout.result_dir})
    return result_fd


def _proc_text(layout: RunLayout) -> dict[str, str]:
    kib = layout.memory_bytes >> 10
    return {
        "meminfo": f"MemTotal: {kib} kB\nMemFree: {kib} kB\nMemAvailable: {kib} kB\n"
        "Buffers: 0 kB\nCached: 0 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
        "loadavg": "0.00 0.00 0.00 1/1 1\n",
        "uptime": "0.00 0.00\n",
        "stat": "".join(  # the CPUs the run may use, idle (glibc counts them here without /sys)
            f"cpu{i} 0 0 0 0 0 0 0 0 0 0\n" for i in sorted(os.sched_getaffinity(0))
        ),
        "swaps": "Filename\tType\tSize\tUsed\tPriority\n",
    }


def _mount_proc(layout: RunLayout) -> None:
    """A /proc of the run's PID namespace, the host-wide figures in it replaced.

    (``subset=pid`` would hide everything but the processes, /proc/cpuinfo too, which torch
    reads to pick its vectorised kernels: runs would be slower, so the files are masked.)"""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    _mount("proc", "/proc", "proc", flags)
    texts = _proc_text(layout)
    stage = "/tmp/.arena-proc"  # on the run's fresh /tmp, removed before participant code
    os.makedirs(stage, exist_ok=True)
    for name in PROC_MASKED:
        target = f"/proc/{name}"
        if not os.path.exists(target):
            continue
        src = f"{stage}/{name}"
        Path(src).write_text(texts.get(name, ""))
        _mount(src, target, None, MS_BIND)
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
    for sub in ("sys", "sysrq-trigger", "irq", "bus", "fs"):
        target = f"/proc/{sub}"
        if os.path.exists(target):
            _mount(target, target, None, MS_BIND | MS_REC)
            _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
    for name in PROC_MASKED:  # the bind mounts keep the files; their names go
        try:
            os.unlink(f"{stage}/{name}")
        except FileNotFoundError:
            pass
    os.rmdir(stage)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]  # fmt: skip


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def drop_capabilities() -> None:
    """No capability left, none to regain: ambient and bounding sets emptied, no_new_privs."""
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient caps")
    for cap in range(CAP_LAST + 1):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 and ctypes.get_errno() != 22:  # EINVAL
            raise IsolationError(f"drop capability {cap}: {os.strerror(ctypes.get_errno())}")
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def load_seccomp(program: bytes) -> None:
    """Add a raw BPF seccomp program (8 bytes an instruction) to this process's filters."""
    if not program or len(program) % 8:
        raise IsolationError("the run's seccomp program is malformed")
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")


def enter_run(layout: RunLayout) -> None:
    """In the run's init (PID 1 of its namespace), before participant code: its /proc and no
    capabilities. The participant's process, its child, then adds the run's seccomp filter
    (:func:`load_seccomp`)."""
    _mount_proc(layout)
    drop_capabilities()


def _self_test(tmp_bytes: int) -> int:
    """Run inside a fresh jail by :func:`worker.sandbox.jail.detect`: isolate one empty run."""
    from worker.sandbox.jail import FRESH_PER_RUN, RESULT_DIR, RUN_FILTER

    layout = RunLayout(FRESH_PER_RUN, RESULT_DIR, tmp_bytes, 1 << 30)
    program = Path(RUN_FILTER).read_bytes()
    pid = os.fork()
    if pid == 0:
        try:
            isolate_run(layout)
            inner = os.fork()
            if inner == 0:
                try:
                    enter_run(layout)
                    load_seccomp(program)
                    pids = [p for p in os.listdir("/proc") if p.isdigit()]
                    ok = pids == ["1"] and not os.access("/usr", os.W_OK)
                    os._exit(0 if ok else 3)
                except BaseException as exc:  # noqa: BLE001
                    print(f"run process: {exc}", flush=True)
                    os._exit(2)
            _, how = os.waitpid(inner, 0)
            os._exit(os.waitstatus_to_exitcode(how))
        except BaseException as exc:  # noqa: BLE001
            print(f"supervisor: {exc}", flush=True)
            os._exit(2)
    _, how = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(how)
    print("isolated" if code == 0 else f"not isolated (code {code})", flush=True)
    return code


if __name__ == "__main__":
    import sys

    sys.exit(_self_test(int(sys.argv[1])))
