"""Run participant code for one run in a separate process, under the run's time limit.

The process gets a fresh directory, a minimal environment (no platform settings, no
credentials: the only platform variable is ``ARENA_BUDGET_SECONDS``), and only the retain,
forget and validation data, which appear in its directory after its top-level code has run.
The worker measures the run's wall clock from handing over the data until the returned weights
are written, and kills the process group at budget + grace.

This is the process boundary of the walking skeleton; namespaces, resource limits and the
read-only filesystem view come with the full sandbox.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from worker import sandbox_protocol as proto

Outcome = Literal[
    "finished", "over_budget", "timed_out", "crashed", "invalid_output", "out_of_memory"
]
KILL_SIGNAL_OOM_HINT = -signal.SIGKILL


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


@dataclass(frozen=True)
class RunResult:
    outcome: Outcome
    seconds: float | None  # measured wall clock of the run (None if it never started)
    weights_path: Path | None  # returned weights, moved out of the run directory
    message: str  # participant-visible


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _child_env(req: RunRequest, home: Path) -> dict[str, str]:
    threads = str(req.spec["threads"])
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "ARENA_BUDGET_SECONDS": f"{req.budget_seconds:.3f}",
    }


class _Lines:
    """Line reader over a pipe with a deadline."""

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
            chunk = os.read(self.fd, 65536)
            if not chunk:
                self.eof = True
            self.buf += chunk
            if len(self.buf) > 1 << 20:  # a flood on the status pipe
                self.eof = True
                return {"event": "garbage"}
        line, self.buf = self.buf.split(b"\n", 1)
        return proto.decode(line)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a zombie that will not die
        pass


def _died(proc: subprocess.Popen, phase: str) -> RunResult:
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        code = None
    if code == KILL_SIGNAL_OOM_HINT:
        return RunResult(
            "out_of_memory",
            None,
            None,
            f"The run's process was killed (SIGKILL) {phase}: most likely out of memory.",
        )
    return RunResult(
        "crashed",
        None,
        None,
        f"The run's process exited {phase} with code {code} and no error report.",
    )


def execute_run(req: RunRequest) -> RunResult:
    """Run the participant's ``unlearning`` once and return the outcome."""
    workdir = Path(tempfile.mkdtemp(prefix="arena-run-"))
    home = workdir / "home"
    run_dir = workdir / "run"
    home.mkdir()
    code_copy = workdir / "submission.py"
    shutil.copyfile(req.code_path, code_copy)
    req.log_path.parent.mkdir(parents=True, exist_ok=True)
    ctrl_r, ctrl_w = os.pipe()
    stat_r, stat_w = os.pipe()
    with open(req.log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-u",  # unbuffered: the log keeps what was printed before a kill
                "-m",
                "worker.sandbox_entry",
                "--code",
                str(code_copy),
                "--control-fd",
                str(ctrl_r),
                "--status-fd",
                str(stat_w),
            ],
            pass_fds=(ctrl_r, stat_w),
            env=_child_env(req, home),
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    os.close(ctrl_r)
    os.close(stat_w)
    lines = _Lines(stat_r)
    try:
        return _drive(proc, lines, ctrl_w, req, run_dir)
    finally:
        _kill_group(proc)
        os.close(stat_r)
        try:
            os.close(ctrl_w)
        except OSError:
            pass
        shutil.rmtree(workdir, ignore_errors=True)


def _drive(
    proc: subprocess.Popen, lines: _Lines, ctrl_w: int, req: RunRequest, run_dir: Path
) -> RunResult:
    msg = lines.read(time.monotonic() + req.import_timeout_seconds)
    if msg is None:
        if lines.eof:
            return _died(proc, "while importing your file")
        return RunResult(
            "timed_out",
            None,
            None,
            f"Your file's top-level code ran longer than {req.import_timeout_seconds:.0f} s before the first run.",
        )
    if msg.get("event") == proto.ERROR:
        return RunResult(_error_kind(msg), None, None, str(msg.get("message", ""))[:4000])
    if msg.get("event") != proto.READY:
        return RunResult(
            "crashed", None, None, "Your code wrote to the platform's control channel."
        )

    # The clock starts when the run's data and weights are handed over.
    run_dir.mkdir()
    # copies, never links: a run must not be able to change the data of the next one
    shutil.copyfile(req.data_path, run_dir / proto.INPUT_DATA)
    shutil.copyfile(req.weights_path, run_dir / proto.INPUT_WEIGHTS)
    (run_dir / proto.INPUT_SPEC).write_text(json.dumps(req.spec))
    start = time.monotonic()
    os.write(ctrl_w, proto.encode(proto.GO, input_dir=str(run_dir)))
    limit = start + req.budget_seconds + req.grace_seconds
    msg = lines.read(limit)
    elapsed = time.monotonic() - start
    if msg is None:
        if lines.eof:
            return _died(proc, "during the run")
        return RunResult(
            "timed_out",
            elapsed,
            None,
            f"The run was stopped after {elapsed:.1f} s: the budget is {req.budget_seconds:.1f} s "
            f"(+{req.grace_seconds:.1f} s grace).",
        )
    if msg.get("event") == proto.ERROR:
        return RunResult(_error_kind(msg), elapsed, None, str(msg.get("message", ""))[:4000])
    if msg.get("event") != proto.DONE:
        return RunResult(
            "crashed", elapsed, None, "Your code wrote to the platform's control channel."
        )
    _kill_group(proc)  # nothing of the participant's keeps running past "done"
    returned = run_dir / proto.OUTPUT_WEIGHTS
    if not returned.is_file():
        return RunResult("invalid_output", elapsed, None, "No returned weights were written.")
    kept = req.log_path.with_suffix(".safetensors")
    shutil.move(returned, kept)
    if elapsed > req.budget_seconds:
        return RunResult(
            "over_budget",
            elapsed,
            kept,
            f"The run took {elapsed:.2f} s, over the budget of {req.budget_seconds:.2f} s.",
        )
    return RunResult("finished", elapsed, kept, "")


def _error_kind(msg: dict) -> Outcome:
    return "invalid_output" if msg.get("kind") == "invalid_output" else "crashed"
