"""Run participant code for one run in a sandbox, under the run's time and resource limits.

upload → … → **sandboxed run** → evaluation. The run's process starts inside the jail of
:mod:`worker.jail` (bubblewrap; or, only with ARENA_UNSAFE_NO_SANDBOX=1 for development, as a
plain process) with a minimal environment whose only platform variable is
``ARENA_BUDGET_SECONDS``. The participant's module is imported first; only then are the run's
retain/forget/validation data and the original weights put where the process can read them,
and the clock starts. The worker measures the wall clock until the returned weights are
written and kills the whole sandbox at budget + grace. Resource limits (rlimits, a memory
watchdog over the process tree) and a size-capped log complete it.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from worker import sandbox_protocol as proto
from worker.jail import SANDBOX_ROOT, Jail

Outcome = Literal[
    "finished", "over_budget", "timed_out", "crashed", "invalid_output", "out_of_memory"
]
WATCH_INTERVAL = 0.25


@dataclass(frozen=True)
class RunLimits:
    memory_bytes: int = 4 << 30  # address space on CPU workers, and resident memory of the tree
    max_processes: int = 256  # processes and threads of the sandbox user
    max_file_bytes: int = 1 << 30  # largest file the run may write
    tmp_bytes: int = 1 << 30  # size of each private writable directory (/tmp, home)
    open_files: int = 1024
    log_bytes: int = 1 << 20  # kept of the run's stdout+stderr (head and tail)
    address_space_limit: bool = True  # RLIMIT_AS breaks CUDA: GPU workers rely on the watchdog


@dataclass(frozen=True)
class RunRequest:
    code_path: Path
    data_path: Path  # safetensors with retain/forget/val tensors
    weights_path: Path  # the original model
    spec: dict  # model spec, seed, batch_size, device, threads
    budget_seconds: float
    grace_seconds: float
    import_timeout_seconds: float
    log_path: Path
    jail: Jail | None = None  # None: unconfined (development only)
    limits: RunLimits = field(default_factory=RunLimits)


@dataclass(frozen=True)
class RunResult:
    outcome: Outcome
    seconds: float | None  # measured wall clock of the run (None if it never started)
    weights_path: Path | None  # returned weights, moved out of the run directory
    message: str  # participant-visible


def _preexec(limits: RunLimits) -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    caps = [
        (resource.RLIMIT_NPROC, limits.max_processes),
        (resource.RLIMIT_FSIZE, limits.max_file_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ]
    if limits.address_space_limit:
        caps.append((resource.RLIMIT_AS, limits.memory_bytes))
    for kind, value in caps:
        resource.setrlimit(kind, (value, value))


def _child_env(req: RunRequest, home: str, tmp: str) -> dict[str, str]:
    threads = str(req.spec["threads"])
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MALLOC_ARENA_MAX": "2",
        "ARENA_BUDGET_SECONDS": f"{req.budget_seconds:.3f}",
    }


class _Lines:
    """Line reader over the status pipe with a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.eof = False

    def read(self, deadline: float) -> dict | None:
        """The next message, or None on timeout or EOF (check ``eof``)."""
        while b"\n" not in self.buf:
            if self.eof:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                return None
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # the other end was killed (connection reset)
                chunk = b""
            if not chunk:
                self.eof = True
            self.buf += chunk
            if len(self.buf) > 1 << 20:  # a flood on the status pipe
                self.eof = True
                return {"event": "garbage"}
        line, self.buf = self.buf.split(b"\n", 1)
        return proto.decode(line)


class _LogSink(threading.Thread):
    """Copies the run's output to a file, keeping the first and last ``cap/2`` bytes."""

    def __init__(self, fd: int, path: Path, cap: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.path, self.half = fd, path, max(1, cap // 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def run(self) -> None:
        while chunk := os.read(self.fd, 65536):
            room = self.half - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail += chunk
                excess = len(self.tail) - self.half
                if excess > 0:
                    self.dropped += excess
                    del self.tail[:excess]
        os.close(self.fd)
        with open(self.path, "wb") as out:
            out.write(self.head)
            if self.dropped:
                out.write(f"\n[... {self.dropped} bytes of output truncated ...]\n".encode())
            out.write(self.tail)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_memory_bytes(root: int) -> int:
    """Memory of a process and all its descendants: the sum of their proportional set sizes
    (shared pages split between sharers, so forked copies are not counted twice)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in _descendants(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
            continue
        except (OSError, IndexError, ValueError):
            pass
        try:  # no smaps_rollup: resident set size
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total


def _kill(proc: subprocess.Popen) -> None:
    """Kill the run's whole sandbox: its process group (and with it the PID namespace)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a zombie that will not die
        pass


def _dir_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


class _Watch:
    """Waits for the next message while checking the memory of the sandbox's process tree and
    the bytes written to its (host-backed) output directory."""

    def __init__(
        self,
        proc: subprocess.Popen,
        lines: _Lines,
        memory_bytes: int,
        out_dir: Path | None = None,
        out_bytes: int = 0,
    ) -> None:
        self.proc, self.lines, self.memory = proc, lines, memory_bytes
        self.out_dir, self.out_bytes = out_dir, out_bytes
        self.out_of_memory = False
        self.wrote_too_much = False

    def read(self, deadline: float) -> dict | None:
        while True:
            msg = self.lines.read(min(deadline, time.monotonic() + WATCH_INTERVAL))
            if msg is not None or self.lines.eof or time.monotonic() >= deadline:
                return msg
            if tree_memory_bytes(self.proc.pid) > self.memory:
                self.out_of_memory = True
                _kill(self.proc)
                return None
            if self.out_dir is not None and _dir_bytes(self.out_dir) > self.out_bytes:
                self.wrote_too_much = True
                _kill(self.proc)
                return None


def _died(
    proc: subprocess.Popen,
    box: Sandbox,
    watch: _Watch,
    phase: str,
    limits: RunLimits,
    elapsed: float | None,
) -> RunResult:
    limit_mib = limits.memory_bytes >> 20
    if watch.wrote_too_much:
        return RunResult(
            "crashed", elapsed, None,
            f"The run wrote more than {limits.tmp_bytes >> 20} MiB to its output directory {phase} and was stopped.",
        )  # fmt: skip
    if watch.out_of_memory:
        return RunResult(
            "out_of_memory", elapsed, None,
            f"The run used more than its memory limit of {limit_mib} MiB {phase} and was stopped.",
        )  # fmt: skip
    code = box.child_exit_code()
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = f" (the memory limit is {limit_mib} MiB)" if code == -signal.SIGKILL else ""
        return RunResult(
            "crashed", elapsed, None, f"The run's process was killed by {name} {phase}{hint}."
        )
    return RunResult(
        "crashed", elapsed, None, f"The run's process exited {phase} with code {code} and no error report."
    )  # fmt: skip


class SandboxDied(RuntimeError):
    """The pre-warmed process is gone or unresponsive; the sandbox must be restarted."""


class Sandbox:
    """One submission's sandbox: a pre-warmed process inside the jail that forks each run.

    Participant code only ever runs in the forked children; whenever a run ends abnormally
    (time limit, memory, a dead or unresponsive zygote) the whole sandbox is killed and the next
    run starts a new one.
    """

    def __init__(
        self, code_path: Path, jail: Jail | None, limits: RunLimits, env_spec: RunRequest
    ) -> None:
        self.code_path, self.jail, self.limits, self.env_spec = code_path, jail, limits, env_spec
        self.proc: subprocess.Popen | None = None
        self.sock = None
        self.host: Path | None = None
        self.replies: _Lines | None = None

    # -- life cycle ---------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        import socket

        self.host = Path(tempfile.mkdtemp(prefix="arena-run-"))
        host = self.host
        shutil.copyfile(self.code_path, host / "submission.py")
        (host / "submission.py").chmod(0o644)
        for sub in ("run", "out", "home"):
            (host / sub).mkdir()
        if self.jail is not None:
            self.jail.prepare_dir(host)
            self.inside = Path(SANDBOX_ROOT)
            env = _child_env(self.env_spec, f"{SANDBOX_ROOT}/home", "/tmp")
            cwd = None
        else:
            self.inside = host
            env = _child_env(self.env_spec, str(host / "home"), str(host / "home"))
            cwd = host / "home"
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        inner = [
            sys.executable, "-I", "-u", "-m", "worker.sandbox_zygote", str(theirs.fileno()),
            str(self.inside / "submission.py"), str(self.inside / "home"), "1" if self.jail else "0",
        ]  # fmt: skip
        argv = self.jail.command(host, inner, env, self.limits.tmp_bytes) if self.jail else inner
        self.zygote_log = open(host / "zygote.log", "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            argv,
            pass_fds=(theirs.fileno(),),
            env=env if self.jail is None else {"PATH": "/usr/bin:/bin"},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self.zygote_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: _preexec(self.limits),
        )
        theirs.close()
        self.sock = ours
        self.replies = _Lines(ours.fileno())
        msg = self.replies.read(time.monotonic() + 120)
        if msg is None or msg.get("event") != "warm":
            log = (host / "zygote.log").read_text(errors="replace")[-2000:]
            self.close()
            raise SandboxDied(f"the sandbox did not start: {log}")

    def close(self) -> None:
        if self.proc is not None:
            _kill(self.proc)
            self.proc = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.host is not None:
            self.zygote_log.close()
            shutil.rmtree(self.host, ignore_errors=True)
            self.host = None

    def _command(self, cmd: str, fds: list[int] | None = None, timeout: float = 30.0) -> dict:
        import socket

        try:
            payload = (json.dumps({"cmd": cmd}) + "\n").encode()
            if fds:
                socket.send_fds(self.sock, [payload], fds)
            else:
                self.sock.sendall(payload)
        except OSError as exc:
            raise SandboxDied(str(exc)) from None
        msg = self.replies.read(time.monotonic() + timeout)
        if msg is None:
            raise SandboxDied("no answer from the sandbox")
        return msg

    # -- one run ------------------------------------------------------------------------------
    def run(self, req: RunRequest) -> RunResult:
        if self.proc is None:
            self.start()
        ctrl_r, ctrl_w = os.pipe()
        stat_r, stat_w = os.pipe()
        log_r, log_w = os.pipe()
        req.log_path.parent.mkdir(parents=True, exist_ok=True)
        sink = _LogSink(log_r, req.log_path, req.limits.log_bytes)
        sink.start()
        clean = False
        try:
            try:
                self._command("fork", [ctrl_r, stat_w, log_w])
            finally:
                for fd in (ctrl_r, stat_w, log_w):
                    os.close(fd)
            lines = _Lines(stat_r)
            result = _drive(
                self.proc,
                _Watch(
                    self.proc,
                    lines,
                    req.limits.memory_bytes,
                    self.host / "out",
                    req.limits.tmp_bytes,
                ),
                ctrl_w,
                req,
                self,
            )
            clean = result.outcome not in ("timed_out", "out_of_memory") and self._finish()
            return result
        except SandboxDied:
            return RunResult("crashed", None, None, "The run's sandbox stopped unexpectedly.")
        finally:
            if not clean:
                self.close()  # the next run starts a fresh sandbox
            else:
                for f in (self.host / "run").iterdir():  # the data is gone before the next import
                    f.unlink()
            os.close(stat_r)
            os.close(ctrl_w)
            sink.join(timeout=30)

    def child_exit_code(self) -> int | None:
        try:
            return self._command("wait", timeout=5).get("code")
        except SandboxDied:
            return None

    def _finish(self) -> bool:
        """Stop everything the run started; True if the sandbox is clean for the next run."""
        try:
            return self._command("finish", timeout=15).get("event") == "clean"
        except SandboxDied:
            return False


def execute_run(req: RunRequest) -> RunResult:
    """Run the participant's ``unlearning`` once in a sandbox of its own."""
    with Sandbox(req.code_path, req.jail, req.limits, req) as sandbox:
        return sandbox.run(req)


def _drive(
    proc: subprocess.Popen, watch: _Watch, ctrl_w: int, req: RunRequest, box: Sandbox
) -> RunResult:
    host, inside = box.host, box.inside
    msg = watch.read(time.monotonic() + req.import_timeout_seconds)
    if msg is None:
        if watch.lines.eof or watch.out_of_memory or watch.wrote_too_much:
            return _died(proc, box, watch, "while importing your file", req.limits, None)
        return RunResult(
            "timed_out", None, None,
            f"Your file's top-level code ran longer than {req.import_timeout_seconds:.0f} s before the first run.",
        )  # fmt: skip
    if msg.get("event") == proto.ERROR:
        return RunResult(_error_kind(msg), None, None, str(msg.get("message", ""))[:4000])
    if msg.get("event") != proto.READY:
        return RunResult(
            "crashed", None, None, "Your code wrote to the platform's control channel."
        )

    # The clock starts when the run's data and weights are handed over (copies, never links:
    # a run must not be able to change what the next one reads).
    run_dir = host / "run"
    shutil.copyfile(req.data_path, run_dir / proto.INPUT_DATA)
    shutil.copyfile(req.weights_path, run_dir / proto.INPUT_WEIGHTS)
    (run_dir / proto.INPUT_SPEC).write_text(json.dumps(req.spec))
    start = time.monotonic()
    os.write(
        ctrl_w,
        proto.encode(
            proto.GO,
            input_dir=str(inside / "run"),
            output_path=str(inside / "out" / proto.OUTPUT_WEIGHTS),
        ),
    )
    msg = watch.read(start + req.budget_seconds + req.grace_seconds)
    elapsed = time.monotonic() - start
    if msg is None:
        if watch.lines.eof or watch.out_of_memory or watch.wrote_too_much:
            return _died(proc, box, watch, "during the run", req.limits, elapsed)
        return RunResult(
            "timed_out", elapsed, None,
            f"The run was stopped after {elapsed:.1f} s: the budget is {req.budget_seconds:.1f} s "
            f"(+{req.grace_seconds:.1f} s grace).",
        )  # fmt: skip
    if msg.get("event") == proto.ERROR:
        return RunResult(_error_kind(msg), elapsed, None, str(msg.get("message", ""))[:4000])
    if msg.get("event") != proto.DONE:
        return RunResult(
            "crashed", elapsed, None, "Your code wrote to the platform's control channel."
        )
    if not box._finish():  # nothing of the participant's keeps running past "done"
        box.close()
        return RunResult(
            "crashed", elapsed, None, "The run's processes could not be stopped after it finished."
        )
    returned = host / "out" / proto.OUTPUT_WEIGHTS
    if not returned.is_file() or returned.is_symlink():
        return RunResult("invalid_output", elapsed, None, "No returned weights were written.")
    kept = req.log_path.with_suffix(".safetensors")
    shutil.move(returned, kept)
    if elapsed > req.budget_seconds:
        return RunResult(
            "over_budget", elapsed, kept,
            f"The run took {elapsed:.2f} s, over the budget of {req.budget_seconds:.2f} s.",
        )  # fmt: skip
    return RunResult("finished", elapsed, kept, "")


def _error_kind(msg: dict) -> Outcome:
    kind = msg.get("kind")
    return kind if kind in ("invalid_output", "out_of_memory") else "crashed"
