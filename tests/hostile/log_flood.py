# EXPECT: crashed: ISOLATED flood
import sys


def unlearning(net, retain_loader, forget_loader, val_loader):
    line = "flood " * 100 + "\n"
    for _ in range(100_000):  # about 60 MB of output
        sys.stdout.write(line)
    raise RuntimeError("ISOLATED flood: wrote 60 MB of output")
