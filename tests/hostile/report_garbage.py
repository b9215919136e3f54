# EXPECT: crashed: report channel
import os
import stat


def writable_pipes():
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd < 3:
            continue
        try:
            mode = os.fstat(fd).st_mode
            flags = int(open(f"/proc/self/fdinfo/{fd}").read().split("flags:")[1].split()[0], 8)
        except (OSError, IndexError, ValueError):
            continue
        if stat.S_ISFIFO(mode) and flags & os.O_WRONLY:
            yield fd


def unlearning(net, retain_loader, forget_loader, val_loader):
    for fd in writable_pipes():  # nesting that makes json.loads raise RecursionError
        os.write(fd, b"[" * 200_000 + b"]" * 200_000 + b"\n")
    return net
