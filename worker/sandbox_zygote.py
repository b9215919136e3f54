"""The sandbox's pre-warmed process: imports the platform once, then forks one fresh child per run.

Started by :mod:`worker.sandbox` inside the jail. The worker sends commands over a Unix socket:
``fork`` (with the run's control, status and log pipes attached) starts a child that runs
:func:`worker.sandbox_entry.run_child`; ``finish`` kills every other process in the sandbox (the
run's child and anything it started), wipes the private writable directories, and answers
``clean``. Each run thus starts from the same state: a fresh fork of a process that no
participant code has touched.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import sys
import time

from worker import sandbox_entry

WIPE = ("/tmp",)


def _send(sock: socket.socket, event: str, **fields: object) -> None:
    sock.sendall((json.dumps({"event": event, **fields}) + "\n").encode())


def _others(confined: bool) -> list[int]:
    """Processes of the sandbox other than this one and its ancestors (bubblewrap)."""
    if not confined:
        return []
    keep = {os.getpid(), os.getppid(), 1}
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in keep]


def _kill_all(child: int | None, confined: bool) -> None:
    if child is not None:
        try:
            os.killpg(child, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for _ in range(50):
        pids = _others(confined)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        while True:  # reap our own children
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if not _others(confined):
            return
        time.sleep(0.02)


def _wipe(paths: tuple[str, ...]) -> None:
    for root in paths:
        if not os.path.isdir(root):
            continue
        for entry in os.listdir(root):
            path = os.path.join(root, entry)
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
            except OSError:
                pass


def main() -> int:
    sock = socket.socket(fileno=int(sys.argv[1]))
    code, home, confined = sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    try:  # participant code (same user) must not read or trace this process
        ctypes.CDLL(None).prctl(4, 0)  # PR_SET_DUMPABLE 0
    except OSError:
        pass
    _send(sock, "warm")
    child: int | None = None
    buf = b""
    while True:
        data, fds, _, _ = socket.recv_fds(sock, 65536, 3)
        if not data:
            _kill_all(child, confined)
            return 0
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            cmd = json.loads(line).get("cmd")
            if cmd == "fork" and len(fds) == 3:
                ctrl_fd, stat_fd, log_fd = fds
                pid = os.fork()
                if pid == 0:
                    sock.close()
                    os.setsid()
                    os.dup2(log_fd, 1)
                    os.dup2(log_fd, 2)
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    try:
                        ctypes.CDLL(None).prctl(4, 1)  # the run itself is an ordinary process
                    except OSError:
                        pass
                    try:
                        code_exit = sandbox_entry.run_child(code, ctrl_fd, stat_fd)
                    except BaseException:  # noqa: BLE001
                        code_exit = 70
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code_exit)
                for fd in fds:
                    os.close(fd)
                fds = []
                child = pid
                _send(sock, "forked")
            elif cmd == "wait":  # the run's process ended: how?
                code = None
                for _ in range(100):
                    try:
                        pid, status = os.waitpid(child, os.WNOHANG) if child else (0, 0)
                    except ChildProcessError:
                        break
                    if pid:
                        code = (
                            -os.WTERMSIG(status)
                            if os.WIFSIGNALED(status)
                            else os.WEXITSTATUS(status)
                        )
                        child = None
                        break
                    time.sleep(0.02)
                _send(sock, "exited", code=code)
            elif cmd == "finish":
                _kill_all(child, confined)
                child = None
                _wipe(WIPE + (home,))
                _send(sock, "clean")


if __name__ == "__main__":
    sys.exit(main())
