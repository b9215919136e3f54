# EXPECT: crashed: report channel
import os
import stat


def unlearning(net, retain_loader, forget_loader, val_loader):
    line = b'{"event": "ready"}\n' * 1000
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):
                for _ in range(300):  # ~5.7 MB of valid-looking messages
                    os.write(fd, line)
        except OSError:
            pass
    return net
