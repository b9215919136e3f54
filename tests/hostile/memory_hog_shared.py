# EXPECT: out_of_memory: memory
import ctypes
import mmap
import os

libc = ctypes.CDLL(None, use_errno=True)
IPC_PRIVATE, IPC_CREAT, IPC_RMID = 0, 0o1000, 0
libc.shmat.restype = ctypes.c_void_p


def unlearning(net, retain_loader, forget_loader, val_loader):
    """Memory the old watchdog never saw: unmapped memfd pages, detached SysV segments and tmpfs
    files take no Pss in any process, and RLIMIT_AS does not count them either."""
    while True:
        fd = os.memfd_create("hog")
        os.ftruncate(fd, 256 << 20)
        with mmap.mmap(fd, 256 << 20) as m:
            for i in range(0, 256 << 20, 4096):
                m[i] = 1
        seg = libc.shmget(IPC_PRIVATE, 256 << 20, IPC_CREAT | 0o600)
        if seg >= 0:
            addr = libc.shmat(seg, None, 0)
            if addr not in (None, ctypes.c_void_p(-1).value):
                ctypes.memset(addr, 1, 256 << 20)
                libc.shmdt(ctypes.c_void_p(addr))
            libc.shmctl(seg, IPC_RMID, None)  # detached and gone from every map, still resident
        with open(f"/dev/shm/hog{fd}", "wb") as fh:
            fh.write(b"x" * (64 << 20))
