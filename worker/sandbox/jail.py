"""The sandbox's jail: the bubblewrap command line that starts one submission's sandbox.

Inside: a user namespace of the sandbox user's that can create no other, with its own network
(loopback only), PID, IPC and UTS namespaces; a read-only view of /usr, the Python installation,
the virtualenv and the `worker` package; the run directory (data appear there only when the
clock starts) read-only; the directory that receives returned weights (each run's supervisor
hides it from the run); the jail's seccomp filter. Not visible: the test split, reference
outputs, other submissions, the database, the worker's environment and home, the host's /proc.
Each run then gets namespaces and mounts of its own (:mod:`worker.sandbox.isolation`). When the
worker runs as root, the jail's user is a dedicated unprivileged one (so that no sandbox process
is ever root on the host); otherwise it is the worker's own.
"""

from __future__ import annotations

import os
import pwd
import re
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


FRESH_PER_RUN = ("/tmp", f"{SANDBOX_ROOT}/home", f"{SANDBOX_ROOT}/out", "/dev/shm")
RESULT_DIR = f"{SANDBOX_ROOT}/result"
RUNTIME_DIR = f"{SANDBOX_ROOT}/runtime"
CODE_DIR = f"{SANDBOX_ROOT}/code"  # the submission's files, read-only (worker.sandbox.code_layout)
RUN_FILTER = f"{SANDBOX_ROOT}/run-filter.bpf"
UNCOVER_PROC = (
    "for d in /proc/sys /proc/sysrq-trigger /proc/irq /proc/bus; do"
    ' if mountpoint -q "$d"; then umount "$d" || exit 71; fi; done; exec "$@"'
)
CAPS_FOR_THE_ZYGOTE = ("CAP_SYS_ADMIN", "CAP_SETPCAP")  # inside its own user namespace only


@dataclass(frozen=True)
class Jail:
    bwrap: str
    uid: int | None  # the worker is root: bubblewrap runs as this uid; None: as the worker's
    gid: int | None
    ro_paths: tuple[str, ...]
    gpu_devices: tuple[str, ...] = field(default_factory=tuple)

    def command(
        self,
        host_dir: Path,
        inner: list[str],
        env: dict[str, str],
        tmp_bytes: int,
        seccomp_fd: int | None = None,
        runtime: Path | None = None,
    ) -> list[str]:
        """argv running ``inner`` with ``host_dir`` laid out as /sandbox, in a user namespace
        of the sandbox user's that can create no other: the zygote keeps CAP_SYS_ADMIN there
        (and only there) to make each run's namespaces and mounts, and each run's process drops
        it. ``seccomp_fd`` holds the jail's system-call filter.

        A root worker lays the files out with a first bubblewrap (as root: it can read the
        Python installation wherever it is, e.g. under /root) and starts the second, the
        unprivileged one, as the sandbox user inside it; otherwise one bubblewrap does both."""
        userns = [
            "--unshare-user", "--disable-userns",
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent",
        ]  # fmt: skip
        for cap in CAPS_FOR_THE_ZYGOTE:
            userns += ["--cap-add", cap]
        if seccomp_fd is not None:
            userns += ["--seccomp", str(seccomp_fd)]
        tail = ["--chdir", SANDBOX_ROOT, "--clearenv"]
        for key, value in env.items():
            tail += ["--setenv", key, value]
        tail += ["--", *inner]
        devices = [a for dev in self.gpu_devices for a in ("--dev-bind", dev, dev)]
        if self.uid is None:
            return [
                self.bwrap,
                *userns,
                "--new-session",
                *self._layout(host_dir, tmp_bytes, runtime),
                *tail,
            ]
        # The first bubblewrap covers parts of its /proc read-only (as root it could write
        # them); covered, that /proc would not count as fully visible and the kernel would
        # refuse the second one its own. It is uncovered (nothing is writable there for the
        # sandbox user) before root is dropped for good.
        outer = [
            self.bwrap, "--unshare-pid", "--die-with-parent", "--new-session",
            "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SYS_ADMIN",
            *self._layout(host_dir, tmp_bytes, runtime), "--",
            "/bin/sh", "-c", UNCOVER_PROC, "uncover",
            "/usr/bin/setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all",
        ]  # fmt: skip
        second = [self.bwrap, *userns, "--bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
        return outer + second + devices + tail

    def _layout(self, host_dir: Path, tmp_bytes: int, runtime: Path | None = None) -> list[str]:
        args: list[str] = []
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
        args += ["--perms", "0755", "--dir", f"{SANDBOX_ROOT}/home"]
        args += ["--perms", "0755", "--dir", f"{SANDBOX_ROOT}/out"]
        args += ["--ro-bind", str(host_dir / "code"), CODE_DIR]
        if runtime is not None:  # the competition's packages (worker/runtime.py)
            args += ["--ro-bind", str(runtime), RUNTIME_DIR]
        args += ["--ro-bind", str(host_dir / "run-filter.bpf"), RUN_FILTER]
        args += ["--ro-bind", str(host_dir / "run"), f"{SANDBOX_ROOT}/run"]
        args += ["--bind", str(host_dir / "result"), RESULT_DIR]
        return args

    def prepare_dir(self, host_dir: Path) -> None:
        """The host side of the layout: the run's data (read-only inside), the result directory
        that only each run's supervisor writes, and the run's seccomp program."""
        from worker.sandbox.seccomp import run_filter

        (host_dir / "run").mkdir(mode=0o755, exist_ok=True)
        result = host_dir / "result"
        result.mkdir(mode=0o700, exist_ok=True)
        if self.uid is not None:
            os.chown(result, self.uid, self.gid)
        program = host_dir / "run-filter.bpf"
        program.write_bytes(run_filter())
        program.chmod(0o644)
        host_dir.chmod(0o755)


def _python_paths() -> tuple[str, ...]:
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    paths.add(str(Path(worker.__file__).resolve().parent))
    # the interpreter the venv points at may live outside base_prefix (e.g. pyenv shims)
    paths.add(os.path.realpath(os.path.dirname(os.path.realpath(sys.executable)) + "/.."))
    return tuple(sorted(p for p in paths if os.path.isdir(p) and not p.startswith("/usr")))


def gpu_devices(nodes: tuple[str, ...], visible: str | None) -> tuple[str, ...]:
    """The device nodes a jail binds: the driver's control nodes, and of the GPUs
    (/dev/nvidiaN) only those this worker was given (``CUDA_VISIBLE_DEVICES`` as indices, e.g.
    from ``arena worker --gpu 2``); all of them when it names none."""
    gpu = re.compile(r"^/dev/nvidia(\d+)$")
    if visible is None or not re.fullmatch(r"\s*\d+(\s*,\s*\d+)*\s*", visible):
        return nodes
    wanted = {int(v) for v in visible.split(",")}
    return tuple(n for n in nodes if not gpu.match(n) or int(gpu.match(n).group(1)) in wanted)


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
    gpus = gpu_devices(
        tuple(str(p) for p in sorted(Path("/dev").glob("nvidia*"))),
        os.environ.get("CUDA_VISIBLE_DEVICES"),
    )
    jail = Jail(bwrap=bwrap, uid=uid, gid=gid, ro_paths=_python_paths(), gpu_devices=gpus)
    _self_test(jail)
    return jail


def seccomp_memfd() -> int:
    """A descriptor holding the jail's seccomp program, for bubblewrap's --seccomp."""
    from worker.sandbox.seccomp import jail_filter

    fd = os.memfd_create("arena-seccomp", 0)  # inheritable: passed to bubblewrap
    os.write(fd, jail_filter())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _self_test(jail: Jail) -> None:
    """Build the jail once and isolate one run in it (worker.sandbox.isolation's own check)."""
    import tempfile

    from worker.sandbox.seccomp import SeccompUnavailable

    with tempfile.TemporaryDirectory(prefix="arena-jail-test-") as tmp:
        host = Path(tmp)
        (host / "code").mkdir()
        (host / "code" / "submission.py").write_text("")
        try:
            jail.prepare_dir(host)
            fd = seccomp_memfd()
        except SeccompUnavailable as exc:
            raise SandboxUnavailable(str(exc)) from None
        check = [sys.executable, "-I", "-m", "worker.sandbox.isolation", str(1 << 20)]
        argv = jail.command(host, check, {"PATH": "/usr/bin:/bin"}, 1 << 20, seccomp_fd=fd)
        try:
            out = subprocess.run(
                argv, capture_output=True, text=True, timeout=60, pass_fds=(fd,), cwd="/"
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"bubblewrap could not start: {exc}") from None
        finally:
            os.close(fd)
        if out.returncode != 0 or "isolated" not in out.stdout:
            raise SandboxUnavailable(
                "bubblewrap cannot create the sandbox here: "
                f"{(out.stderr.strip() or out.stdout.strip())[-800:]}"
            )
