"""The sandbox's pre-warmed process: imports the platform once, then starts each run from nothing.

Started by :mod:`worker.sandbox.runner` inside the jail. The worker sends commands over a Unix socket:

- ``fork`` (with the run's go, report, log and status pipes attached) forks the run's
  **supervisor**, which makes the run's own namespaces and fresh mounts
  (:func:`worker.sandbox.isolation.isolate_run`) and forks the run's **process**, which enters them
  (:func:`~worker.sandbox.isolation.enter_run`: its /proc, no capabilities, the run's seccomp filter)
  and only then imports participant code (:func:`worker.sandbox.entry.run_child`). The
  supervisor, which the run's process cannot see or signal, waits for it, says on the status
  pipe how it ended, and copies the returned weights (a regular file, nothing else) to the
  host directory that only it holds;
- ``finish`` kills every other process in the sandbox and answers ``clean``.

So each run is a fresh fork of a process that no participant code has touched, in namespaces and
on mounts that no earlier run has touched. Unconfined (development only, ARENA_UNSAFE_NO_SANDBOX)
there are no namespaces: the run directories are wiped between runs instead.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import stat
import sys
import time
from types import ModuleType

from worker.sandbox import protocol as proto
from worker.sandbox.isolation import IsolationError, RunLayout, enter_run, isolate_run, load_seccomp

# imported in main(), once the competition's runtime is on sys.path (it may bring its own torch)
sandbox_entry: ModuleType
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
COPY_CHUNK = 1 << 20


def _send(sock: socket.socket, event: str, **fields: object) -> None:
    sock.sendall(proto.encode(event, **fields))


def _others(confined: bool) -> list[int]:
    """Processes of the sandbox other than this one and its ancestors (bubblewrap)."""
    if not confined:
        return []
    keep = {os.getpid(), os.getppid(), 1}
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in keep]


def _kill_all(child: int | None, confined: bool) -> None:
    if child is not None:
        try:
            os.kill(child, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for _ in range(250):
        for pid in _others(confined):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if _reaped_all() and not _others(confined):
            return
        time.sleep(0.02)


def _reaped_all() -> bool:
    """Reap this process's dead children; True when none is left."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            return False


def _wipe(paths: tuple[str, ...]) -> None:  # unconfined development mode only
    for root in paths:
        if not os.path.isdir(root):
            continue
        for entry in os.listdir(root):
            path = os.path.join(root, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def _collect(out_dir: str, result_fd: int, max_bytes: int) -> dict:
    """Copy the run's returned weights (a regular file, never a link, FIFO or device, at most
    ``max_bytes`` long: a sparse file costs the run nothing and would fill the host's disk) into
    the result directory. Runs after the run's process and all it started are gone."""
    try:
        src = os.open(
            os.path.join(out_dir, proto.OUTPUT_WEIGHTS),
            os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
        )
    except FileNotFoundError:
        return {"returned": False, "problem": "missing"}
    except OSError:
        return {"returned": False, "problem": "not_a_file"}
    try:
        info = os.fstat(src)
        if not stat.S_ISREG(info.st_mode):
            return {"returned": False, "problem": "not_a_file"}
        if info.st_size > max_bytes:
            return {"returned": False, "problem": "too_large"}
        dst = os.open(
            proto.OUTPUT_WEIGHTS,
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
            dir_fd=result_fd,
        )
        try:
            while chunk := os.read(src, COPY_CHUNK):
                os.write(dst, chunk)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return {"returned": True}


def _run_init(cfg: dict, layout: RunLayout | None, program: bytes, fds: list[int]) -> None:
    """PID 1 of the run's namespaces (platform code): enters the run's isolation, starts the
    participant's process, says on the status pipe how it ended, then exits (and the kernel
    kills whatever the participant left running). Never returns."""
    go_fd, report_fd, log_fd, status_fd = fds
    try:
        os.setsid()
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if layout is not None:
            try:
                enter_run(layout)
            except IsolationError as exc:
                os.write(status_fd, proto.encode("setup_failed", error=str(exc)[:2000]))
                os._exit(1)
        pid = os.fork()
        if pid == 0:
            _run_participant(cfg, program if layout is not None else b"", fds)
        for fd in (go_fd, report_fd, log_fd):
            os.close(fd)
        while True:  # reap every orphan until the participant's process ends
            dead, how = os.wait()
            if dead == pid:
                break
        code = -os.WTERMSIG(how) if os.WIFSIGNALED(how) else os.WEXITSTATUS(how)
        os.write(status_fd, proto.encode("exited", code=code))
    finally:
        os._exit(0)


def _run_participant(cfg: dict, program: bytes, fds: list[int]) -> None:
    """The participant's process: only its own pipes, the run's seccomp filter, then the
    participant's code. Never returns."""
    go_fd, report_fd, log_fd, _status_fd = fds
    code_exit = sandbox_entry.EXIT_FAILED
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        keep = sorted({0, 1, 2, go_fd, report_fd})
        for low, high in zip(keep, keep[1:] + [1 << 20], strict=True):
            os.closerange(low + 1, high)  # the status pipe, the zygote's socket, the result dir
        if program:
            load_seccomp(program)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _libc.prctl(PR_SET_DUMPABLE, 1)  # the run itself is an ordinary process
        code_exit = sandbox_entry.run_child(cfg["code"], go_fd, report_fd)
    except BaseException:  # noqa: BLE001
        code_exit = sandbox_entry.EXIT_FAILED
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code_exit)


def _supervise(cfg: dict, layout: RunLayout | None, program: bytes, fds: list[int]) -> None:
    """The run's supervisor: makes the run's namespaces, waits for them to end, collects the
    returned weights. Never returns."""
    go_fd, report_fd, log_fd, status_fd = fds
    status = os.fdopen(status_fd, "wb", buffering=0)
    try:
        if layout is not None:
            result_fd = isolate_run(layout)
        else:
            result_fd = os.open(cfg["result_dir"], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            _wipe((cfg["home"], cfg["out_dir"]))
        pid = os.fork()
    except (IsolationError, OSError) as exc:
        status.write(proto.encode("setup_failed", error=str(exc)[:2000]))
        os._exit(0)
    if pid == 0:
        os.close(result_fd)
        _run_init(cfg, layout, program, fds)
    for fd in (go_fd, report_fd, log_fd):
        os.close(fd)
    if layout is not None and cfg.get("report_usage"):
        _wait_reporting_usage(pid, layout, status)
    else:
        os.waitpid(pid, 0)  # the run's namespace is empty once its init is gone
    try:
        collected = _collect(cfg["out_dir"], result_fd, int(cfg["max_return_bytes"]))
    except OSError:
        collected = {"returned": False, "problem": "not_a_file"}
    status.write(proto.encode("collected", **collected))
    os._exit(0)


USAGE_INTERVAL = 0.2


def _shared_memory_bytes(layout: RunLayout) -> int:
    """Memory that no process's proportional set size shows: the run's tmpfs pages, its SysV
    segments (resident, attached or not) and its memfd files (their size, held open by any
    process of the run). The supervisor sees all three: it is in the run's mount and IPC
    namespaces, and the run's processes are visible in its /proc."""
    total = 0
    for mount in layout.fresh:
        try:
            st = os.statvfs(mount)
            total += (st.f_blocks - st.f_bfree) * st.f_frsize
        except OSError:
            pass
    try:
        with open("/proc/sysvipc/shm") as fh:
            header = fh.readline().split()
            rss = header.index("rss") if "rss" in header else header.index("size")
            for line in fh:
                total += int(line.split()[rss])
    except (OSError, ValueError, IndexError):
        pass
    seen: set[int] = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:"):
                    continue
                st = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return total


def _wait_reporting_usage(pid: int, layout: RunLayout, status) -> None:
    """Without a cgroup: wait for the run's init, telling the worker (which adds it to the
    process tree's memory) what the run holds in shared memory every USAGE_INTERVAL."""
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        status.write(proto.encode("usage", bytes=_shared_memory_bytes(layout)))
        time.sleep(USAGE_INTERVAL)


def main() -> int:
    global sandbox_entry
    sock = socket.socket(fileno=int(sys.argv[1]))
    cfg = json.loads(sys.argv[2])
    if cfg.get("runtime"):  # the competition's packages: first when they bring their own torch
        if cfg.get("runtime_first"):
            sys.path.insert(0, cfg["runtime"])
        else:
            sys.path.append(cfg["runtime"])
    from worker.sandbox import entry as sandbox_entry  # torch and the platform's code, once

    confined = bool(cfg["confined"])
    layout = RunLayout(**cfg["layout"]) if confined else None
    program = open(cfg["seccomp"], "rb").read() if confined else b""  # noqa: SIM115
    # participant code (same user) must not read or trace this process
    _libc.prctl(PR_SET_DUMPABLE, 0)
    _send(sock, "warm")
    child: int | None = None
    buf = b""
    while True:
        data, fds, _, _ = socket.recv_fds(sock, 65536, 4)
        if not data:
            _kill_all(child, confined)
            return 0
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            cmd = json.loads(line).get("cmd")
            if cmd == "fork" and len(fds) == 4:
                pid = os.fork()
                if pid == 0:
                    sock.close()
                    _supervise(cfg, layout, program, fds)
                for fd in fds:
                    os.close(fd)
                fds = []
                child = pid
                _send(sock, "forked")
            elif cmd == "finish":
                _kill_all(child, confined)
                child = None
                _send(sock, "clean")


if __name__ == "__main__":
    sys.exit(main())
