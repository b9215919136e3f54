"""The sandbox's isolation: a bubblewrap command line for one run of participant code.

Inside: its own network (loopback only), PID, IPC and UTS namespaces; a read-only view of
/usr, the Python installation, the virtualenv and the `worker` package; a fresh /proc and
/dev; a size-capped private /tmp and home; the run directory (data appear there only when the
clock starts) read-only; one writable output directory. Not visible: the test split, reference
outputs, other submissions, the database, the worker's environment and home, the host's /proc.
When the worker runs as root, the code runs as a dedicated unprivileged user (so that the
process-count limit binds); otherwise bubblewrap makes an unprivileged user namespace.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import worker

SANDBOX_ROOT = "/sandbox"
FALLBACK_USER = "nobody"


class SandboxUnavailable(RuntimeError):
    """No working sandbox on this worker: participant code must not run here."""


@dataclass(frozen=True)
class Jail:
    bwrap: str
    uid: int | None  # run as this host uid (worker is root); None: an unprivileged user namespace
    gid: int | None
    ro_paths: tuple[str, ...]
    gpu_devices: tuple[str, ...] = field(default_factory=tuple)

    def command(
        self, host_dir: Path, inner: list[str], env: dict[str, str], tmp_bytes: int
    ) -> list[str]:
        """bwrap argv running ``inner`` with ``host_dir`` laid out as /sandbox (see run_layout)."""
        args = [
            self.bwrap,
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session",
        ]  # fmt: skip
        if self.uid is None:
            args += ["--unshare-user"]
        made: set[str] = set()

        def parents(target: str) -> None:  # world-traversable parents (bwrap copies 0700 otherwise)
            parts = Path(target).parts
            for i in range(2, len(parts)):
                p = str(Path(*parts[:i]))
                if p not in made:
                    made.add(p)
                    args.extend(["--perms", "0755", "--dir", p])

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
        # /tmp first: the Python environment may live under /tmp and is bound on top of it
        args += ["--size", str(tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp"]
        for path in self.ro_paths:
            parents(path)
            args += ["--ro-bind", path, path]
        for dev in self.gpu_devices:
            args += ["--dev-bind", dev, dev]
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += ["--perms", "0755", "--dir", SANDBOX_ROOT]
        args += ["--size", str(tmp_bytes), "--perms", "1777", "--tmpfs", f"{SANDBOX_ROOT}/home"]
        args += ["--ro-bind", str(host_dir / "submission.py"), f"{SANDBOX_ROOT}/submission.py"]
        args += ["--ro-bind", str(host_dir / "run"), f"{SANDBOX_ROOT}/run"]
        args += ["--bind", str(host_dir / "out"), f"{SANDBOX_ROOT}/out"]
        args += ["--chdir", f"{SANDBOX_ROOT}/home", "--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        args.append("--")
        if self.uid is not None:
            args += [
                "/usr/bin/setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
            ]  # fmt: skip
        return args + inner

    def prepare_dir(self, host_dir: Path) -> None:
        """Give the sandbox user its writable output directory."""
        (host_dir / "run").mkdir(mode=0o755, exist_ok=True)
        out = host_dir / "out"
        out.mkdir(mode=0o700, exist_ok=True)
        if self.uid is not None:
            os.chown(out, self.uid, self.gid)
        host_dir.chmod(0o755)


def _python_paths() -> tuple[str, ...]:
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    paths.add(str(Path(worker.__file__).resolve().parent))
    # the interpreter the venv points at may live outside base_prefix (e.g. pyenv shims)
    paths.add(os.path.realpath(os.path.dirname(os.path.realpath(sys.executable)) + "/.."))
    return tuple(sorted(p for p in paths if os.path.isdir(p) and not p.startswith("/usr")))


def _sandbox_ids(user: str) -> tuple[int, int]:
    for name in (user, FALLBACK_USER):
        try:
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            continue
    raise SandboxUnavailable(f"neither the sandbox user {user!r} nor {FALLBACK_USER!r} exists")


@lru_cache(maxsize=4)
def detect(user: str = "arena-sandbox") -> Jail:
    """A working jail for this machine, or SandboxUnavailable saying why there is none."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed; install the Debian package `bubblewrap` (make setup)"
        )
    uid = gid = None
    if os.geteuid() == 0:
        uid, gid = _sandbox_ids(user)
        if not os.path.exists("/usr/bin/setpriv"):
            raise SandboxUnavailable(
                "/usr/bin/setpriv (util-linux) is needed to drop root in the sandbox"
            )
    gpus = tuple(str(p) for p in sorted(Path("/dev").glob("nvidia*")))
    jail = Jail(bwrap=bwrap, uid=uid, gid=gid, ro_paths=_python_paths(), gpu_devices=gpus)
    _self_test(jail)
    return jail


def _self_test(jail: Jail) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="arena-jail-test-") as tmp:
        host = Path(tmp)
        (host / "submission.py").write_text("")
        jail.prepare_dir(host)
        argv = jail.command(
            host, [sys.executable, "-I", "-c", "import worker"], {"PATH": "/usr/bin:/bin"}, 1 << 20
        )
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"bubblewrap could not start: {exc}") from None
        if out.returncode != 0:
            raise SandboxUnavailable(
                f"bubblewrap cannot create the sandbox here: {out.stderr.strip()[:500]}"
            )
