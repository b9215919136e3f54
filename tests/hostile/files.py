# EXPECT: crashed: unlearning() raised an exception: Isolated
import os

SECRETS = {"arena.db", "references.npz", "splits.npz", "original_outputs.npz", "submission.ipynb"}

# The walk runs at import time, off the clock (the run's own data is not there yet).
FOUND = []
for root, dirs, files in os.walk("/"):
    if root.startswith(("/proc", "/sys", "/dev")):
        dirs[:] = []
        continue
    system = root.startswith("/usr")  # the OS's own read-only files (some end in .db)
    FOUND += [
        os.path.join(root, f)
        for f in files
        if f in SECRETS or (not system and f.endswith((".db", ".sqlite")))
    ]


def unlearning(net, retain_loader, forget_loader, val_loader):
    from safetensors import safe_open

    found = list(FOUND)
    found += [f for f in os.listdir("/sandbox/run") if "test" in f or "reference" in f]
    with safe_open("/sandbox/run/data.safetensors", "pt") as data:
        found += [k for k in data.keys() if k.startswith("test")]
    if found:
        raise Leaked(f"LEAKED files {found[:5]}")
    if os.path.exists("/root/.bash_history") or os.path.isdir("/work/main/var"):
        raise Leaked("LEAKED the worker's home or var directory")
    raise Isolated("ISOLATED files: no database, references, test split or other submissions")


class Isolated(Exception):
    """The probe found the sandbox holding: the participant sees this type's name only."""


class Leaked(Exception):
    """The probe got through."""
