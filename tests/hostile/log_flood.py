# EXPECT: crashed: unlearning() raised an exception: Isolated
import sys


def unlearning(net, retain_loader, forget_loader, val_loader):
    line = "flood " * 100 + "\n"
    for _ in range(100_000):  # about 60 MB of output
        sys.stdout.write(line)
    raise Isolated("ISOLATED flood: wrote 60 MB of output")


class Isolated(Exception):
    """The probe found the sandbox holding: the participant sees this type's name only."""


class Leaked(Exception):
    """The probe got through."""
