# EXPECT: crashed: unlearning() raised an exception: Isolated
import os
import sys

TARGETS = [
    "/usr/arena-pwned",
    "/sandbox/run/arena-pwned",
    "/sandbox/submission.py",
    os.path.join(sys.prefix, "arena-pwned"),
    "/arena-pwned",
    "/etc/arena-pwned",
]


def unlearning(net, retain_loader, forget_loader, val_loader):
    written = []
    for path in TARGETS:
        try:
            with open(path, "a") as fh:
                fh.write("x")
            written.append(path)
        except OSError:
            pass
    with open("/tmp/allowed", "w") as fh:  # the private temporary directory is writable
        fh.write("ok")
    if written:
        raise Leaked(f"LEAKED writes to {written}")
    raise Isolated("ISOLATED writes: only the private temporary directory is writable")


class Isolated(Exception):
    """The probe found the sandbox holding: the participant sees this type's name only."""


class Leaked(Exception):
    """The probe got through."""
