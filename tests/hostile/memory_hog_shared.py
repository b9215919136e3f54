# EXPECT: out_of_memory: memory
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
IPC_PRIVATE, IPC_CREAT, IPC_RMID = 0, 0o1000, 0
libc.shmat.restype = ctypes.c_void_p


def hog() -> None:
    """Memory the old watchdog never saw: unmapped memfd pages, detached SysV segments and tmpfs
    files take no Pss in any process, and RLIMIT_AS does not count them either."""
    chunk = b"\1" * (64 << 20)
    while True:
        fd = os.memfd_create("hog")
        for _ in range(4):
            os.write(fd, chunk)  # 256 MiB resident in the memfd, mapped nowhere
        seg = libc.shmget(IPC_PRIVATE, 256 << 20, IPC_CREAT | 0o600)
        if seg >= 0:
            addr = libc.shmat(seg, None, 0)
            if addr not in (None, ctypes.c_void_p(-1).value):
                ctypes.memset(addr, 1, 256 << 20)
                libc.shmdt(ctypes.c_void_p(addr))
            libc.shmctl(seg, IPC_RMID, None)  # detached and gone from every map, still resident
        with open(f"/dev/shm/hog{fd}", "wb") as fh:
            fh.write(chunk)


hog()  # at import: the limit holds off the clock too (and a busy machine's 3 s budget is no race)


def unlearning(net, retain_loader, forget_loader, val_loader):
    return net
