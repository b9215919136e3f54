"""Run participant code for one run in a sandbox, under the run's time and resource limits.

upload → … → **sandboxed run** → evaluation. One sandbox (the jail of :mod:`worker.sandbox.jail`, or,
only with ARENA_UNSAFE_NO_SANDBOX=1 for development, plain processes) serves one submission: a
pre-warmed zygote (:mod:`worker.sandbox.zygote`) starts each run in fresh namespaces and mounts
(:mod:`worker.sandbox.isolation`), so nothing one run leaves behind exists for the next. The run's
process imports the participant's module first; only then are the run's retain/forget/validation
data and the original weights put where it can read them, and the clock starts. The worker
measures the wall clock until the run's supervisor says the process exited, and kills the whole
sandbox at budget + grace.

Two channels come back from each run. The **status** channel is the supervisor's, which the run
cannot reach: it alone says that and how the run's process ended and whether weights were
returned. The **report** channel is written in the run's own process (participant code runs
there), so it is untrusted: anything on it that is not a valid message (of any length or
nesting) fails the run as ``crashed``, and what a failure report says is checked against the
stored upload before any of it is shown (:mod:`worker.sandbox.failure_report`). Resource limits
(rlimits, a memory watchdog over the process tree, capped tmpfs mounts) and a size-capped log
complete it.
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

from worker.sandbox import cgroups
from worker.sandbox import protocol as proto
from worker.sandbox.cgroups import SandboxGroup
from worker.sandbox.failure_report import Upload, render
from worker.sandbox.jail import (
    FRESH_PER_RUN,
    RESULT_DIR,
    RUN_FILTER,
    SANDBOX_ROOT,
    Jail,
    seccomp_memfd,
)

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
    cpus: tuple[int, ...] = ()  # the sandbox's cpuset (empty: the worker's own CPUs)
    cgroup: bool = True  # False: the weaker limits of a machine without cgroups (tests)


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


# With a pids cgroup per sandbox the per-user process limit must not bind: every sandbox on a
# host runs as the same user, so one tenant's threads would count against everyone's.
NPROC_WITH_CGROUP = 1 << 16


def _preexec(limits: RunLimits, group: SandboxGroup | None) -> None:  # between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if group is not None:
        group.join()
    caps = [
        (resource.RLIMIT_NPROC, limits.max_processes if group is None else NPROC_WITH_CGROUP),
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


class _Channel:
    """Messages of ``kinds``, one per line, from one pipe. Anything else (a line that does not
    decode to one of them, a partial line, more than ``cap`` bytes in all) marks it ``broken``;
    it is still drained, so the writer never blocks on it."""

    def __init__(self, fd: int, kinds: tuple[type, ...], cap: int) -> None:
        self.fd, self.kinds, self.cap = fd, kinds, cap
        self.buf = b""
        self.total = 0
        self.eof = self.broken = False
        self.messages: list[tuple[float, object]] = []  # (arrival, message)
        self.usage = 0  # the latest Usage report (bytes)

    def pump(self) -> None:
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # the other end was killed (connection reset)
            chunk = b""
        if not chunk:
            self.eof = True
            self.broken = self.broken or bool(self.buf)
            self.buf = b""
            return
        self.total += len(chunk)
        if self.broken:
            return
        if self.total > self.cap:
            self.broken, self.buf = True, b""
            return
        self.buf += chunk
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            msg = proto.decode(line, self.kinds)
            if msg is None:
                self.broken, self.buf = True, b""
                return
            if isinstance(msg, proto.Usage):  # a stream: only the latest counts
                self.usage = msg.bytes
                continue
            self.messages.append((time.monotonic(), msg))
        if len(self.buf) > proto.MAX_LINE:
            self.broken, self.buf = True, b""

    def first(self, kind: type) -> tuple[float, object] | None:
        return next(((t, m) for t, m in self.messages if isinstance(m, kind)), None)

    def last(self, kind: type) -> object | None:
        found = [m for _, m in self.messages if isinstance(m, kind)]
        return found[-1] if found else None


class _MemoryWatchdog(threading.Thread):
    """Where no cgroup limits memory: sums the proportional memory of the sandbox's process
    tree every WATCH_INTERVAL and kills the sandbox past the limit. A thread of its own, so that
    a slow walk (processes busy forking hold their memory maps' locks) never delays the kill at
    budget + grace."""

    def __init__(self, proc: subprocess.Popen, memory_bytes: int, status: _Channel) -> None:
        super().__init__(daemon=True)
        self.proc, self.memory, self.status = proc, memory_bytes, status
        self.tripped = False
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(WATCH_INTERVAL):
            shared = self.status.usage  # tmpfs, SysV and memfd, from the run's supervisor
            if tree_memory_bytes(self.proc.pid) + shared > self.memory:
                self.tripped = True
                _kill(self.proc)
                return


class _Watch:
    """Pumps a run's report and status channels until a condition, a deadline, the end of the
    status channel or the memory watchdog's kill; nothing else runs in this loop."""

    def __init__(
        self,
        proc: subprocess.Popen,
        report: _Channel,
        status: _Channel,
        memory_bytes: int,
        watchdog: bool,
    ) -> None:
        self.proc, self.report, self.status = proc, report, status
        self.watchdog = _MemoryWatchdog(proc, memory_bytes, status) if watchdog else None
        if self.watchdog is not None:
            self.watchdog.start()

    @property
    def out_of_memory(self) -> bool:
        return self.watchdog is not None and self.watchdog.tripped

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stopped.set()
            self.watchdog.join(timeout=30)

    def until(self, deadline: float, done) -> bool:
        """Until ``done()``, the deadline, the end of the status channel or the memory limit."""
        while not done():
            now = time.monotonic()
            if now >= deadline or self.status.eof or self.out_of_memory:
                return False
            open_ = [c for c in (self.report, self.status) if not c.eof]
            ready, _, _ = select.select(
                [c.fd for c in open_], [], [], min(deadline - now, WATCH_INTERVAL)
            )
            for channel in open_:
                if channel.fd in ready:
                    channel.pump()
        return True


class SandboxDied(RuntimeError):
    """The pre-warmed process is gone or unresponsive; the sandbox must be restarted."""


class IsolationFailed(RuntimeError):
    """The platform could not isolate a run (before any participant code ran): its own fault."""


class Sandbox:
    """One submission's sandbox: a pre-warmed process inside the jail that starts each run.

    Participant code only ever runs in the runs' own processes; whenever a run ends abnormally
    (time limit, memory, a dead or unresponsive zygote) the whole sandbox is killed and the next
    run starts a new one.
    """

    def __init__(
        self, code_path: Path, jail: Jail | None, limits: RunLimits, env_spec: RunRequest
    ) -> None:
        self.code_path, self.jail, self.limits, self.env_spec = code_path, jail, limits, env_spec
        self.upload = Upload(code_path, "")
        self.proc: subprocess.Popen | None = None
        self.sock = None
        self.host: Path | None = None
        self.replies: _Channel | None = None
        self.group: SandboxGroup | None = None
        self._oom_seen = 0

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
        seccomp_fd = None
        if self.jail is not None:
            self.jail.prepare_dir(host)
            self.inside = Path(SANDBOX_ROOT)
            cfg = {
                "code": f"{SANDBOX_ROOT}/submission.py",
                "confined": True,
                "out_dir": f"{SANDBOX_ROOT}/out",
                "seccomp": RUN_FILTER,
                "layout": {
                    "fresh": list(FRESH_PER_RUN),
                    "result_dir": RESULT_DIR,
                    "tmp_bytes": self.limits.tmp_bytes,
                    "memory_bytes": self.limits.memory_bytes,
                },
            }
            env = _child_env(self.env_spec, f"{SANDBOX_ROOT}/home", "/tmp")
            cwd = "/"
            seccomp_fd = seccomp_memfd()
        else:
            for sub in ("run", "out", "home", "result"):
                (host / sub).mkdir()
            self.inside = host
            cfg = {
                "code": str(host / "submission.py"),
                "confined": False,
                "out_dir": str(host / "out"),
                "result_dir": str(host / "result"),
                "home": str(host / "home"),
            }
            env = _child_env(self.env_spec, str(host / "home"), str(host / "home"))
            cwd = host / "home"
        self.upload = Upload(self.code_path, str(cfg["code"]))
        found = cgroups.detect()
        if self.jail is not None and found.version is not None and self.limits.cgroup:
            self.group = SandboxGroup(
                found, self.limits.memory_bytes, self.limits.max_processes, self.limits.cpus
            )
        group = self.group
        cfg["report_usage"] = group is None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        inner = [
            sys.executable, "-I", "-u", "-m", "worker.sandbox.zygote", str(theirs.fileno()),
            json.dumps(cfg),
        ]  # fmt: skip
        argv = (
            self.jail.command(host, inner, env, self.limits.tmp_bytes, seccomp_fd=seccomp_fd)
            if self.jail
            else inner
        )
        self.zygote_log = open(host / "zygote.log", "wb")  # noqa: SIM115 - closed in close()
        try:
            self.proc = subprocess.Popen(
                argv,
                pass_fds=(theirs.fileno(),) + ((seccomp_fd,) if seccomp_fd is not None else ()),
                env=env if self.jail is None else {"PATH": "/usr/bin:/bin"},
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=self.zygote_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=lambda: _preexec(self.limits, group),
            )
        finally:
            theirs.close()
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        self.sock = ours
        self.replies = _Channel(ours.fileno(), (proto.Answer,), 1 << 20)
        if self._answer(time.monotonic() + 120) != "warm":
            log = (host / "zygote.log").read_text(errors="replace")[-2000:]
            self.close()
            raise SandboxDied(f"the sandbox did not start: {log}")

    def close(self) -> None:
        if self.proc is not None:
            _kill(self.proc)
            self.proc = None
        if self.group is not None:
            self.group.remove()
            self.group = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.host is not None:
            self.zygote_log.close()
            shutil.rmtree(self.host, ignore_errors=True)
            self.host = None

    def _answer(self, deadline: float) -> str | None:
        """The zygote's next answer (platform code at both ends), or None."""
        replies = self.replies
        while not replies.messages:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or replies.eof or replies.broken:
                return None
            ready, _, _ = select.select([replies.fd], [], [], remaining)
            if ready:
                replies.pump()
        _, msg = replies.messages.pop(0)
        return msg.event

    def _command(self, cmd: str, fds: list[int] | None = None, timeout: float = 30.0) -> str:
        import socket

        try:
            payload = (json.dumps({"cmd": cmd}) + "\n").encode()
            if fds:
                socket.send_fds(self.sock, [payload], fds)
            else:
                self.sock.sendall(payload)
        except OSError as exc:
            raise SandboxDied(str(exc)) from None
        answer = self._answer(time.monotonic() + timeout)
        if answer is None:
            raise SandboxDied("no answer from the sandbox")
        return answer

    # -- one run ------------------------------------------------------------------------------
    def run(self, req: RunRequest) -> RunResult:
        if self.proc is None:
            self.start()
        for stale in (self.host / "result").iterdir():
            stale.unlink()
        self.killed_for_memory()  # count the kernel's kills from this run on
        go_r, go_w = os.pipe()
        report_r, report_w = os.pipe()
        log_r, log_w = os.pipe()
        status_r, status_w = os.pipe()
        req.log_path.parent.mkdir(parents=True, exist_ok=True)
        sink = _LogSink(log_r, req.log_path, req.limits.log_bytes)
        sink.start()
        clean = False
        try:
            try:
                self._command("fork", [go_r, report_w, log_w, status_w])
            finally:
                for fd in (go_r, report_w, log_w, status_w):
                    os.close(fd)
            watch = _Watch(
                self.proc,
                _Channel(report_r, proto.REPORT, proto.MAX_REPORT_BYTES),
                _Channel(status_r, proto.STATUS, 1 << 30),  # usage reports stream all run long
                req.limits.memory_bytes,
                watchdog=self.group is None,  # a cgroup's limit is the kernel's
            )
            try:
                result = _drive(watch, go_w, req, self)
            finally:
                watch.stop()
            if result.outcome == "crashed" and self.killed_for_memory():
                phase = "while importing your file" if result.seconds is None else "during the run"
                result = _out_of_memory(req.limits, phase, result.seconds)
            clean = result.outcome not in ("timed_out", "out_of_memory") and self._finish()
            return result
        except SandboxDied:
            if self.killed_for_memory():
                return _out_of_memory(req.limits, "during the run", None)
            return RunResult("crashed", None, None, "The run's sandbox stopped unexpectedly.")
        finally:
            if not clean:
                self.close()  # the next run starts a fresh sandbox
            else:
                for f in (self.host / "run").iterdir():  # the data is gone before the next import
                    f.unlink()
            os.close(status_r)
            os.close(report_r)
            os.close(go_w)
            sink.join(timeout=30)

    def killed_for_memory(self) -> bool:
        """True once the kernel killed a process of this sandbox for its memory limit since the
        last call (the cgroup's count; never without a cgroup)."""
        if self.group is None:
            return False
        try:
            kills = self.group.oom_kills()
        except OSError:
            return False
        seen, self._oom_seen = self._oom_seen, kills
        return kills > seen

    def _finish(self) -> bool:
        """Stop everything the run started; True if the sandbox is clean for the next run."""
        try:
            return self._command("finish", timeout=15) == "clean"
        except SandboxDied:
            return False


def execute_run(req: RunRequest) -> RunResult:
    """Run the participant's ``unlearning`` once in a sandbox of its own."""
    with Sandbox(req.code_path, req.jail, req.limits, req) as sandbox:
        return sandbox.run(req)


def _exited(watch: _Watch) -> bool:
    return watch.status.first(proto.Exited) is not None or _setup_failed(watch)


def _setup_failed(watch: _Watch) -> bool:
    return watch.status.first(proto.SetupFailed) is not None


def _drive(watch: _Watch, go_w: int, req: RunRequest, box: Sandbox) -> RunResult:
    limits = req.limits
    ready = watch.until(
        time.monotonic() + req.import_timeout_seconds,
        lambda: (
            watch.report.broken or watch.report.first(proto.Ready) is not None or _exited(watch)
        ),
    )
    if _setup_failed(watch):
        raise IsolationFailed(watch.status.first(proto.SetupFailed)[1].error)
    if watch.report.broken:
        return _forged(None)
    if not _exited(watch) and watch.report.first(proto.Ready) is None:
        if watch.out_of_memory:
            return _out_of_memory(limits, "while importing your file", None)
        if not ready and not watch.status.eof:
            return RunResult(
                "timed_out", None, None,
                f"Your file's top-level code ran longer than {req.import_timeout_seconds:.0f} s before the first run.",
            )  # fmt: skip
        return RunResult("crashed", None, None, "The run's sandbox stopped unexpectedly.")
    if _exited(watch):  # ended while importing
        return _ended(watch, box, req, "while importing your file", None)

    # The clock starts when the run's data and weights are handed over (copies, never links:
    # a run must not be able to change what the next one reads).
    run_dir = box.host / "run"
    shutil.copyfile(req.data_path, run_dir / proto.INPUT_DATA)
    shutil.copyfile(req.weights_path, run_dir / proto.INPUT_WEIGHTS)
    (run_dir / proto.INPUT_SPEC).write_text(json.dumps(req.spec))
    start = time.monotonic()
    try:
        os.write(
            go_w,
            proto.encode(
                proto.GO,
                input_dir=str(box.inside / "run"),
                output_path=f"{box.inside / 'out'}/{proto.OUTPUT_WEIGHTS}",
            ),
        )
    except OSError:  # the run's process is gone already
        pass
    watch.until(start + req.budget_seconds + req.grace_seconds, lambda: _exited(watch))
    if _setup_failed(watch):
        raise IsolationFailed(watch.status.first(proto.SetupFailed)[1].error)
    exited = watch.status.first(proto.Exited)
    if exited is None:
        elapsed = time.monotonic() - start
        if watch.out_of_memory:
            return _out_of_memory(limits, "during the run", elapsed)
        if watch.status.eof:
            return RunResult("crashed", elapsed, None, "The run's sandbox stopped unexpectedly.")
        return RunResult(
            "timed_out", elapsed, None,
            f"The run was stopped after {elapsed:.1f} s: the budget is {req.budget_seconds:.1f} s "
            f"(+{req.grace_seconds:.1f} s grace).",
        )  # fmt: skip
    return _ended(watch, box, req, "during the run", exited[0] - start)


def _ended(
    watch: _Watch, box: Sandbox, req: RunRequest, phase: str, elapsed: float | None
) -> RunResult:
    """The run's process exited: collect what it returned and what its report says."""
    limits = req.limits
    watch.until(time.monotonic() + 60, lambda: watch.status.first(proto.Collected) is not None)
    watch.until(time.monotonic() + 5, lambda: watch.report.eof)  # its last report
    if watch.report.broken:
        return _forged(elapsed)
    code = watch.status.first(proto.Exited)[1].code
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        hint = (
            f" (the memory limit is {limits.memory_bytes >> 20} MiB)"
            if -code == signal.SIGKILL
            else ""
        )
        return RunResult(
            "crashed", elapsed, None, f"The run's process was killed by {name} {phase}{hint}."
        )
    if code != 0:
        failed = watch.report.last(proto.Failed)
        if failed is None:
            return RunResult(
                "crashed", elapsed, None,
                f"The run's process exited {phase} with code {code} and no error report.",
            )  # fmt: skip
        reason, message = render(failed, box.upload)
        return RunResult(reason, elapsed, None, message)
    if watch.out_of_memory:
        return _out_of_memory(limits, phase, elapsed)
    collected = watch.status.first(proto.Collected)
    returned = box.host / "result" / proto.OUTPUT_WEIGHTS
    if collected is None or not collected[1].returned or not returned.is_file():
        problem = collected[1].problem if collected is not None else None
        text = {
            "not_a_file": "What was written as the returned weights is not a regular file.",
        }.get(problem or "", "No returned weights were written.")
        return RunResult("invalid_output", elapsed, None, text)
    if elapsed is None:  # exited cleanly before its data existed: nothing it wrote counts
        return RunResult(
            "invalid_output", None, None, "The run's process ended before its run began."
        )
    kept = req.log_path.with_suffix(".safetensors")
    shutil.move(returned, kept)
    if elapsed > req.budget_seconds:
        return RunResult(
            "over_budget", elapsed, kept,
            f"The run took {elapsed:.1f} s, over the budget of {req.budget_seconds:.1f} s.",
        )  # fmt: skip
    return RunResult("finished", elapsed, kept, "")


def _out_of_memory(limits: RunLimits, phase: str, elapsed: float | None) -> RunResult:
    return RunResult(
        "out_of_memory", elapsed, None,
        f"The run used more than its memory limit of {limits.memory_bytes >> 20} MiB {phase} and was stopped.",
    )  # fmt: skip


def _forged(elapsed: float | None) -> RunResult:
    return RunResult(
        "crashed", elapsed, None,
        "The run wrote something other than the platform's own messages on its report channel "
        "(participant code may not use it).",
    )  # fmt: skip
