# EXPECT: crashed: unlearning() raised an exception: Isolated
import ctypes
import os
import platform

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, SIGCHLD = 0x20000, 0x10000000, 0x40000000, 17
NUMBERS = {  # io_uring_setup, bpf, perf_event_open, keyctl, clone
    "x86_64": {
        "io_uring_setup": 425,
        "bpf": 321,
        "perf_event_open": 298,
        "keyctl": 250,
        "clone": 56,
    },
    "aarch64": {
        "io_uring_setup": 425,
        "bpf": 280,
        "perf_event_open": 241,
        "keyctl": 219,
        "clone": 220,
    },
}[platform.machine()]


def unlearning(net, retain_loader, forget_loader, val_loader):
    got = []
    if libc.unshare(CLONE_NEWUSER) == 0:
        got.append("a new user namespace")
    if libc.unshare(CLONE_NEWNS) == 0:
        got.append("a new mount namespace")
    os.makedirs("/tmp/m", exist_ok=True)
    if libc.mount(b"tmpfs", b"/tmp/m", b"tmpfs", 0, None) == 0:
        got.append("a tmpfs mount")
    params = ctypes.create_string_buffer(120)
    if libc.syscall(NUMBERS["io_uring_setup"], 8, params) >= 0:
        got.append("io_uring")
    if libc.syscall(NUMBERS["bpf"], 0, None, 0) >= 0 or ctypes.get_errno() not in (1, 38):
        got.append(f"bpf (errno {ctypes.get_errno()})")
    attr = ctypes.create_string_buffer(128)
    if libc.syscall(NUMBERS["perf_event_open"], attr, 0, -1, -1, 0) >= 0:
        got.append("perf_event_open")
    if libc.syscall(NUMBERS["keyctl"], 0, -3, 0) >= 0:  # KEYCTL_GET_KEYRING_ID, session keyring
        got.append("keyctl")
    if libc.ptrace(0, 0, None, None) == 0:  # PTRACE_TRACEME
        got.append("ptrace")
    child = libc.syscall(NUMBERS["clone"], CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
    if child == 0:
        os._exit(0)
    if child > 0:
        got.append("clone into a new user namespace")
    child = libc.syscall(NUMBERS["clone"], CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0)
    if child == 0:
        os._exit(0)
    if child > 0:
        got.append("clone into a new network namespace")
    fd = os.open("/proc/self/ns/mnt", os.O_RDONLY) if os.path.exists("/proc/self/ns/mnt") else -1
    if fd >= 0 and libc.setns(fd, 0) == 0:
        got.append("setns")
    status = dict(
        line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line
    )
    for key in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        if int(status[key].strip(), 16):
            got.append(f"{key} {status[key].strip()}")
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    if pids != [1, os.getpid()]:
        got.append(f"processes {pids}")
    init = open("/proc/1/cmdline", "rb").read()
    if b"bwrap" in init or b"--bind" in init:
        got.append("the jail's command line")
    if os.path.exists("/proc/meminfo"):
        total = int(open("/proc/meminfo").read().split()[1]) << 10
        if total > 8 << 30:
            got.append(f"the host's memory ({total >> 30} GiB)")
    if got:
        raise Leaked(f"LEAKED kernel surface: {got}")
    raise Isolated(
        "ISOLATED kernel: no namespaces, mounts, io_uring, bpf, perf, keys, ptrace, caps"
    )


class Isolated(Exception):
    """The probe found the sandbox holding: the participant sees this type's name only."""


class Leaked(Exception):
    """The probe got through."""
