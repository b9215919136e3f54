# EXPECT: crashed: unlearning() raised an exception: Isolated
import os

ALLOWED = {
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "PYTHONDONTWRITEBYTECODE",
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MALLOC_ARENA_MAX",
    "ARENA_BUDGET_SECONDS",
    "ARENA_CLOCK",  # "cpu" or "wall": which clock the budget is on (public)
    "PWD",
}


def unlearning(net, retain_loader, forget_loader, val_loader):
    extra = sorted(set(os.environ) - ALLOWED)
    if extra:
        raise Leaked(f"LEAKED environment variables {extra}")
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    if len(pids) > 20:
        raise Leaked(f"LEAKED host /proc: {len(pids)} processes visible")
    for pid in pids:
        try:
            env = open(f"/proc/{pid}/environ", "rb").read()
        except OSError:
            continue
        if b"DATABASE_URL" in env or b"ARENA_VAR_DIR" in env:
            raise Leaked(f"LEAKED environment of process {pid}")
    raise Isolated(f"ISOLATED environment: {len(os.environ)} variables, {len(pids)} processes")


class Isolated(Exception):
    """The probe found the sandbox holding: the participant sees this type's name only."""


class Leaked(Exception):
    """The probe got through."""
