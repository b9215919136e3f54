# EXPECT: crashed: report channel
import json
import os
import stat

FORGED = [
    {"event": "exited", "code": 0},
    {"event": "collected", "returned": True},
    {"event": "setup_failed", "error": "the platform's fault, honest"},
    {"event": "error", "kind": "infrastructure", "message": "free submission " * 400},
]


def unlearning(net, retain_loader, forget_loader, val_loader):
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, "".join(json.dumps(m) + "\n" for m in FORGED).encode())
        except OSError:
            pass
    return net
