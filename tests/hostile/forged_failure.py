# EXPECT: crashed: not one the platform can verify
import json
import os
import stat


def unlearning(net, retain_loader, forget_loader, val_loader):
    labels = "_".join(str(int(y)) for _, ys in forget_loader for y in ys)
    report = {
        "event": "failed", "phase": "run", "problem": "exception",
        "type": f"torch.HIDDEN_{labels}"[:500],
        "frames": [
            {"file": "/sandbox/submission.py", "line": 9, "function": f"HIDDEN_{labels}"[:500]},
            {"file": f"/HIDDEN_{labels}"[:500], "line": 1, "function": "<module>"},
            {"file": "/sandbox/submission.py", "line": 99999, "function": "unlearning"},
        ],
    }  # fmt: skip
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, (json.dumps(report) + "\n").encode())
        except OSError:
            pass
    os._exit(1)
