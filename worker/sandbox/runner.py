"""Run participant code for one run in a sandbox, under the run's time and resource limits.

upload → … → **sandboxed run** → evaluation. One sandbox (the jail of :mod:`worker.sandbox.jail`, or,
only with ARENA_UNSAFE_NO_SANDBOX=1 for development, plain processes) serves one submission: a
pre-warmed zygote (:mod:`worker.sandbox.zygote`) starts each run in fresh namespaces and mounts
(:mod:`worker.sandbox.isolation`), so nothing one run leaves behind exists for the next. The run's
process imports the participant's module first; only then are the run's retain/forget/validation
data and the original weights put where it can read them. Each run leases CPUs of its own
(:mod:`worker.cpus`) before its clock starts; the clock (:mod:`worker.sandbox.clock`)
starts just before the run's process is forked, so the upload's import is on it, and the whole
sandbox is killed once the run's charged time reaches budget + grace.

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

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from worker import cpus as cpu_slots
from worker.sandbox import cgroups
from worker.sandbox import protocol as proto
from worker.sandbox.cgroups import SandboxGroup
from worker.sandbox.clock import Clock, RunClock
from worker.sandbox.code_layout import lay_out_code, upload_for
from worker.sandbox.drive import drive, out_of_memory_result, stage_inputs
from worker.sandbox.failure_report import Upload
from worker.sandbox.jail import (
    CODE_DIR,
    FRESH_PER_RUN,
    RESULT_DIR,
    RUN_FILTER,
    RUNTIME_DIR,
    SANDBOX_ROOT,
    Jail,
    seccomp_memfd,
)
from worker.sandbox.run_spec import (  # noqa: F401 - the runner's vocabulary
    NPROC_WITH_CGROUP,
    WATCH_INTERVAL,
    IsolationFailed,
    Outcome,
    RunLimits,
    RunRequest,
    RunResult,
    SandboxDied,
    child_env,
    preexec,
)
from worker.sandbox.watch import (
    Channel,
    LogSink,
    Watch,
    kill_process,
)


def max_return_bytes(original: Path) -> int:
    """The largest returned weights copied out of a run: twice the original's file (float64
    weights of a float32 model) and a MiB; anything larger is refused before it is copied."""
    try:
        size = original.stat().st_size
    except OSError:
        size = 1 << 30
    return 2 * size + (1 << 20)


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
        self.replies: Channel | None = None
        self.group: SandboxGroup | None = None
        self._oom_seen = 0
        self.cpu_pool = limits.cpus or cpu_slots.pool()

    @property
    def clock(self) -> Clock:
        """The clock this sandbox's runs are charged by: the request's, or the wall clock where
        the sandbox has no cgroup CPU accounting."""
        if self.env_spec.clock == "cpu" and self.group is not None:
            if self.group.cgroups.cpu_accounting:
                return "cpu"
        return "wall"

    # -- life cycle ---------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, cpus: tuple[int, ...] = ()) -> None:
        """The sandbox and its warm zygote, on ``cpus`` (default: every CPU of its pool)."""
        import socket

        self.host = Path(tempfile.mkdtemp(prefix="arena-run-"))
        host = self.host
        entry, helpers = lay_out_code(self.code_path, host / "code")
        found = cgroups.detect()
        if self.jail is not None and found.version is not None and self.limits.cgroup:
            self.group = SandboxGroup(
                found, self.limits.memory_bytes, self.limits.max_processes, cpus or self.cpu_pool
            )
        group = self.group
        cfg, env, cwd = self._layout(host)
        inside_dir = str(cfg.pop("code_dir"))
        cfg["code"] = f"{inside_dir}/{entry}"
        runtime = self.env_spec.runtime_site
        cfg.update(self._runtime_cfg())
        seccomp_fd = seccomp_memfd() if self.jail is not None else None
        self.upload = upload_for(
            self.code_path, inside_dir, entry, helpers, self.env_spec.runtime_packages
        )
        cfg["report_usage"] = group is None
        cfg["max_return_bytes"] = max_return_bytes(self.env_spec.weights_path)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        inner = [
            sys.executable, "-I", "-u", "-m", "worker.sandbox.zygote", str(theirs.fileno()),
            json.dumps(cfg),
        ]  # fmt: skip
        argv = (
            self.jail.command(
                host, inner, env, self.limits.tmp_bytes, seccomp_fd=seccomp_fd, runtime=runtime
            )
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
                preexec_fn=lambda: preexec(self.limits, group),
            )
        finally:
            theirs.close()
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        self.sock = ours
        self.replies = Channel(ours.fileno(), (proto.Answer,), 1 << 20)
        if self._answer(time.monotonic() + 120) != "warm":
            log = (host / "zygote.log").read_text(errors="replace")[-2000:]
            self.close()
            raise SandboxDied(f"the sandbox did not start: {log}")

    def _runtime_cfg(self) -> dict:
        """Where the zygote finds the competition's packages, and whether they come first
        (a runtime with its own torch)."""
        runtime = self.env_spec.runtime_site
        if runtime is None:
            return {}
        first = any(p.split()[0] == "torch" for p in self.env_spec.runtime_packages)
        inside = RUNTIME_DIR if self.jail is not None else str(runtime)
        return {"runtime": inside, "runtime_first": first}

    def _layout(self, host: Path) -> tuple[dict, dict[str, str], str | Path]:
        """The zygote's configuration, environment and working directory: inside the jail's
        fixed layout, or (unconfined, development only) in folders of ``host``."""
        if self.jail is not None:
            self.jail.prepare_dir(host)
            self.inside = Path(SANDBOX_ROOT)
            cfg = {
                "code_dir": CODE_DIR,
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
            env = child_env(self.env_spec, f"{SANDBOX_ROOT}/home", "/tmp", self.clock)
            return cfg, env, "/"
        for sub in ("run", "out", "home", "result"):
            (host / sub).mkdir()
        self.inside = host
        cfg = {
            "code_dir": str(host / "code"),
            "confined": False,
            "out_dir": str(host / "out"),
            "result_dir": str(host / "result"),
            "home": str(host / "home"),
        }
        home = str(host / "home")
        return cfg, child_env(self.env_spec, home, home, self.clock), host / "home"

    def close(self) -> None:
        if self.proc is not None:
            kill_process(self.proc)
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
        """One run on CPUs of its own: leased first (waiting is on no clock), so that a sandbox
        that starts now warms up on them too, and released once nothing of the run is left."""
        lease = cpu_slots.acquire(int(req.spec.get("threads") or 1), cpus=self.cpu_pool)
        try:
            if self.proc is None:
                self.start(lease.cpus)
            return self._run(req, lease)
        finally:
            lease.release()

    def _run(self, req: RunRequest, lease: cpu_slots.Lease) -> RunResult:
        for stale in (self.host / "result").iterdir():
            stale.unlink()
        self.killed_for_memory()  # count the kernel's kills from this run on
        go_r, go_w = os.pipe()
        report_r, report_w = os.pipe()
        log_r, log_w = os.pipe()
        status_r, status_w = os.pipe()
        req.log_path.parent.mkdir(parents=True, exist_ok=True)
        sink = LogSink(log_r, req.log_path, req.limits.log_bytes)
        sink.start()
        clean = False
        try:
            stage_inputs(req, self.host)  # the platform's copying: before the clock
            clock = self._clock(req, lease)
            try:
                self._command("fork", [go_r, report_w, log_w, status_w])
            finally:
                for fd in (go_r, report_w, log_w, status_w):
                    os.close(fd)
            watch = Watch(
                self.proc,
                Channel(report_r, proto.REPORT, proto.MAX_REPORT_BYTES),
                Channel(status_r, proto.STATUS, 1 << 30),  # usage reports stream all run long
                req.limits.memory_bytes,
                watchdog=self.group is None,  # a cgroup's limit is the kernel's
            )
            try:
                result = drive(watch, go_w, req, self, clock)
            finally:
                watch.stop()
            if result.outcome == "crashed" and self.killed_for_memory():
                where = (
                    "while importing your file" if result.phase == "import" else "during the run"
                )
                result = out_of_memory_result(req.limits, where, result.reading, result.phase)
            stopped = ("timed_out", "out_of_memory", "starved")
            clean = result.outcome not in stopped and self._finish()
            return result
        except SandboxDied:
            if self.killed_for_memory():
                return out_of_memory_result(req.limits, "during the run", None)
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

    def _clock(self, req: RunRequest, lease: cpu_slots.Lease) -> RunClock:
        """The run's clock, started, its sandbox confined to its lease: the run's process is
        forked next."""
        if self.group is not None:
            self.group.set_cpus(lease.cpus)
        clock = RunClock(self.clock, req.budget_seconds, req.grace_seconds, self.group, lease.cpus)
        clock.start()
        return clock

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
