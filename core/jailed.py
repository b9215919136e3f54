"""One short Python command in a jail: how the API and the CLI run organizer code.

An organizer's model module is code the platform did not write; the API process never imports
it. :func:`run_python_module` starts ``python -I -m MODULE`` under bubblewrap: no network,
its own PID, IPC and UTS namespaces, a read-only view of the system, the Python installation
and the platform's packages, one read-only folder of inputs (at ``/check``, unless the checkout
itself lies there), an empty /tmp of bounded size, a cleared environment, and a memory, CPU and
wall-clock limit. When the caller
is root the command runs as the unprivileged sandbox user. The participant's sandbox
(:mod:`worker.sandbox.jail`) builds on the same layout and adds far more.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import core

CHECK_DIR = "/check"
INPUTS = "{inputs}"  # in ``args``: replaced by where the inputs folder is mounted
FALLBACK_USER = "nobody"
PROJECT_PACKAGES = ("core", "worker", "scoring")


class JailUnavailable(RuntimeError):
    """No bubblewrap here (or it cannot start): organizer code must not run unjailed."""


@dataclass(frozen=True)
class JailedResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool


def system_binds() -> list[str]:
    """bubblewrap arguments binding the system read-only: /usr, the /bin and /lib links or
    folders, and the dynamic loader's cache."""
    args: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        src = Path("/") / name
        if src.is_symlink():
            args += ["--symlink", os.readlink(src), str(src)]
        elif src.is_dir():
            args += ["--ro-bind", str(src), str(src)]
    args += ["--ro-bind", "/usr", "/usr"]
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime"):
        if os.path.exists(etc):
            args += ["--ro-bind", etc, etc]
    return args


def python_paths(*packages: str) -> tuple[str, ...]:
    """The Python installation, the virtualenv and the named project packages (folders to bind)."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    root = Path(core.__file__).resolve().parent.parent
    paths |= {str(root / pkg) for pkg in packages}
    # the interpreter the venv points at may live outside base_prefix (e.g. pyenv shims)
    paths.add(os.path.realpath(os.path.dirname(os.path.realpath(sys.executable)) + "/.."))
    return tuple(sorted(p for p in paths if os.path.isdir(p) and not p.startswith("/usr")))


def parent_dirs(targets: tuple[str, ...]) -> list[str]:
    """``--dir`` arguments making each target's parents world-traversable inside the jail
    (bubblewrap would otherwise copy a 0700 parent's mode)."""
    args: list[str] = []
    made: set[str] = set()
    for target in targets:
        parts = Path(target).parts
        for i in range(2, len(parts)):
            p = str(Path(*parts[:i]))
            if p not in made:
                made.add(p)
                args += ["--perms", "0755", "--dir", p]
    return args


def inputs_mount(bound: tuple[str, ...]) -> str:
    """Where the inputs folder is mounted: /check, unless a bound folder lies under it (a
    checkout at /check/... would be hidden by it); then a name no bound folder uses."""
    for candidate in (CHECK_DIR, "/arena-check", "/.arena-check"):
        if not any(p == candidate or p.startswith(candidate + "/") for p in bound):
            return candidate
    raise JailUnavailable(f"no free mount point for the inputs beside {bound}")


def sandbox_ids(user: str) -> tuple[int, int]:
    for name in (user, FALLBACK_USER):
        try:
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            continue
    raise JailUnavailable(f"neither the sandbox user {user!r} nor {FALLBACK_USER!r} exists")


def _argv(module: str, args: list[str], inputs: Path, user: str, tmp_bytes: int) -> list[str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise JailUnavailable(
            "bubblewrap (bwrap) is not installed, so organizer code cannot be checked here; "
            "install the Debian package `bubblewrap` (make system)"
        )
    ro = python_paths(*PROJECT_PACKAGES)
    jail = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    jail += ["--unshare-cgroup-try", "--die-with-parent", "--new-session", *system_binds()]
    jail += ["--size", str(tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp"]
    jail += parent_dirs(ro)
    for path in ro:
        jail += ["--ro-bind", path, path]
    mount = inputs_mount(ro)
    jail += ["--proc", "/proc", "--dev", "/dev", "--ro-bind", str(inputs), mount]
    jail += ["--chdir", "/tmp", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin"]
    jail += ["--setenv", "HOME", "/tmp", "--setenv", "OMP_NUM_THREADS", "1"]
    args = [a.replace(INPUTS, mount) for a in args]
    command = [sys.executable, "-I", "-m", module, *args]
    if os.geteuid() != 0:
        return [*jail[:1], "--unshare-user", "--disable-userns", *jail[1:], "--", *command]
    uid, gid = sandbox_ids(user)
    drop = ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    drop += ["--inh-caps=-all", "--bounding-set=-all", "--"]
    return [*jail, "--", *drop, *command]


def run_python_module(
    module: str,
    args: list[str],
    inputs: Path,
    *,
    timeout: float = 120.0,
    memory_bytes: int = 6 << 30,
    output_bytes: int = 256 * 1024,
    user: str = "arena-sandbox",
) -> JailedResult:
    """Run ``python -I -m module *args`` jailed, with ``inputs`` (a folder) mounted read-only;
    ``{inputs}`` in ``args`` names where (/check unless a bound folder lies under it)."""
    inputs.chmod(0o755)
    for f in inputs.iterdir():
        f.chmod(0o644)

    # limits by prlimit(1), not a preexec_fn (unsafe in the API's threads)
    limits = ["/usr/bin/prlimit", f"--as={memory_bytes}", f"--cpu={int(timeout) + 5}", "--"]
    argv = [*limits, *_argv(module, args, inputs, user, 64 << 20)]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, cwd="/", check=False)
    except subprocess.TimeoutExpired as exc:
        return JailedResult(
            -9, _text(exc.stdout, output_bytes), _text(exc.stderr, output_bytes), True
        )
    except OSError as exc:
        raise JailUnavailable(f"bubblewrap could not start: {exc}") from None
    return JailedResult(
        done.returncode, _text(done.stdout, output_bytes), _text(done.stderr, output_bytes), False
    )


def _text(data: bytes | str | None, limit: int) -> str:
    if data is None:
        return ""
    raw = data.encode() if isinstance(data, str) else data
    return raw[-limit:].decode("utf-8", errors="replace")
