"""Looks for anything an earlier run left (top-level code, before this run's data exist), then
leaves all it can for the next run: files and unreadable directories in every writable place,
copies of the run's data (for off-the-clock training), SysV shared memory and a message queue,
an abstract Unix socket held by a detached process. A clean sandbox shows the next run nothing."""

import ctypes
import os
import shutil
import socket
import sys
import time

MARK = "arena-marker"
KEY = 0x4172656E
IPC_CREAT = 0o1000
libc = ctypes.CDLL(None, use_errno=True)
SKIP = ("/proc", "/sys", "/usr", os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix))


def look() -> list[str]:
    found = []
    for root, dirs, files in os.walk("/"):
        if root.startswith(SKIP):
            dirs[:] = []
            continue
        found += [os.path.join(root, n) for n in dirs + files if n.startswith(MARK)]
    if os.listdir("/sandbox/run"):
        found.append(f"run data before the clock: {os.listdir('/sandbox/run')}")
    if libc.shmget(KEY, 0, 0) >= 0:
        found.append("a SysV shared-memory segment")
    if libc.msgget(KEY, 0) >= 0:
        found.append("a SysV message queue")
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect("\0" + MARK)
        found.append("an abstract socket")
    except OSError:
        pass
    others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
    if others:
        found.append(f"processes {others}")
    return found


FOUND = look()
print(f"FOUND {FOUND or 'nothing'}", flush=True)
if FOUND:  # an earlier run's data: train on it here, off the clock
    time.sleep(0.5)


def leave() -> list[str]:
    places = ["/tmp", os.environ.get("HOME", "/sandbox/home"), "/sandbox/out", "/dev/shm", "/",
              "/sandbox", "/dev", "/var/tmp", "/run", "/etc", os.getcwd()]  # fmt: skip
    left = []
    for place in places:
        try:
            with open(os.path.join(place, MARK), "w") as fh:
                fh.write("x")
            shutil.copyfile("/sandbox/run/data.safetensors", os.path.join(place, MARK + "-data"))
            locked = os.path.join(place, MARK + "-locked")
            os.makedirs(os.path.join(locked, "inner"), exist_ok=True)
            os.chmod(locked, 0)  # unreadable to its owner
            left.append(place)
        except OSError:
            pass
    if libc.shmget(KEY, 4096, IPC_CREAT | 0o600) >= 0:
        left.append("sysv-shm")
    if libc.msgget(KEY, IPC_CREAT | 0o600) >= 0:
        left.append("sysv-msg")
    if os.fork() == 0:  # a detached listener that would outlive the run if it could
        os.setsid()
        s = socket.socket(socket.AF_UNIX)
        s.bind("\0" + MARK)
        s.listen()
        time.sleep(600)
        os._exit(0)
    left.append("abstract-socket")
    return left


def unlearning(net, retain_loader, forget_loader, val_loader):
    if FOUND:
        raise Leaked(f"LEAKED state from an earlier run: {FOUND}")
    print(f"LEFT {leave()}", flush=True)
    time.sleep(0.2)
    return net


class Leaked(Exception):
    """The probe got through."""
