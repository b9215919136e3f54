"""One run's course in a started sandbox: the go signal, the wait on the status channel, and
the verdict from what the supervisor (trusted) and the run (untrusted) said."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from worker.sandbox import protocol as proto
from worker.sandbox.clock import WALL_BACKSTOP_FACTOR, Reading, RunClock
from worker.sandbox.failure_report import render
from worker.sandbox.run_spec import IsolationFailed, RunLimits, RunRequest, RunResult
from worker.sandbox.watch import Watch

if TYPE_CHECKING:
    from worker.sandbox.runner import Sandbox


def _exited(watch: Watch) -> bool:
    return watch.status.first(proto.Exited) is not None or _setup_failed(watch)


def _setup_failed(watch: Watch) -> bool:
    return watch.status.first(proto.SetupFailed) is not None


def drive(watch: Watch, go_w: int, req: RunRequest, box: Sandbox, clock: RunClock) -> RunResult:
    """The run from its fork (``clock`` started just before it) to its end. The upload's import
    is on the clock: one limit, budget + grace of charged time (and the wall backstop), covers
    the import and the call alike."""
    limits = req.limits
    watch.on_clock(
        clock,
        lambda: (
            watch.report.broken or watch.report.first(proto.Ready) is not None or _exited(watch)
        ),
    )
    if _setup_failed(watch):
        raise IsolationFailed(watch.status.first(proto.SetupFailed)[1].error)
    if watch.report.broken:
        return _forged(clock.read(), "import")
    if not _exited(watch) and watch.report.first(proto.Ready) is None:
        reading = clock.read()
        if watch.out_of_memory:
            return out_of_memory_result(limits, "while importing your file", reading, "import")
        if not watch.status.eof:
            return _stopped(req, reading, "import")
        return RunResult(
            "crashed", reading.charged, None, "The run's sandbox stopped unexpectedly.", reading, "import"
        )  # fmt: skip
    if _exited(watch):  # ended while importing
        return _ended(watch, box, req, clock.read(), "import")

    # The run's data and weights, copied before its clock started (copies, never links: a run
    # must not be able to change what the next one reads), are handed over in an instant.
    for name in proto.INPUTS:
        os.rename(box.host / STAGING / name, box.host / "run" / name)
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
    watch.on_clock(clock, lambda: _exited(watch) or watch.report.broken)
    reading = clock.read()
    if _setup_failed(watch):
        raise IsolationFailed(watch.status.first(proto.SetupFailed)[1].error)
    if watch.report.broken and not _exited(watch):  # forging on the report channel: stop now
        return _forged(reading, "run")
    if watch.status.first(proto.Exited) is None:
        if watch.out_of_memory:
            return out_of_memory_result(limits, "during the run", reading)
        if watch.status.eof:
            return RunResult(
                "crashed", reading.charged, None, "The run's sandbox stopped unexpectedly.", reading
            )
        return _stopped(req, reading, "run")
    return _ended(watch, box, req, reading, "run")


STAGING = "staging"  # on the host, never bound into the jail


def stage_inputs(req: RunRequest, host: Path) -> None:
    """The run's inputs, copied where the run cannot see them, before its clock starts."""
    staging = host / STAGING
    staging.mkdir(exist_ok=True)
    shutil.copyfile(req.data_path, staging / proto.INPUT_DATA)
    shutil.copyfile(req.weights_path, staging / proto.INPUT_WEIGHTS)
    (staging / proto.INPUT_SPEC).write_text(json.dumps(req.spec))


def seconds_text(seconds: float, budget: float) -> str:
    """A run's time beside its budget at the published precision (0.1 s), with a second decimal
    only where one would print the budget itself ("3.04 of 3.00", not "3.0 of 3.0"): a run over
    budget once per submission can choose at most that one digit more (docs/security.md)."""
    return f"{seconds:.2f}" if f"{seconds:.1f}" == f"{budget:.1f}" else f"{seconds:.1f}"


def clock_name(reading: Reading) -> str:
    return "CPU time" if reading.clock == "cpu" else "wall time"


def _stopped(req: RunRequest, reading: Reading, phase: str) -> RunResult:
    """Stopped at budget + grace, or at the wall backstop: the run's, or the host's fault."""
    budget, grace = req.budget_seconds, req.grace_seconds
    where = "while importing your file (the import is on the clock)" if phase == "import" else ""
    charged = reading.charged
    if reading.clock == "cpu" and charged < budget + grace:  # the backstop: it waited
        if reading.starved:
            return _starved(reading, phase)
        wall_limit = WALL_BACKSTOP_FACTOR * budget + grace
        return RunResult(
            "timed_out", charged, None,
            f"The run was stopped {where or 'after'} {reading.wall:.1f} s of wall time with "
            f"{charged:.1f} s of CPU time: a run may wait at most {wall_limit:.1f} s "
            f"({WALL_BACKSTOP_FACTOR:g}x its CPU budget of {budget:.2f} s + {grace:.2f} s grace).",
            reading, phase,
        )  # fmt: skip
    if reading.clock == "wall" and reading.starved:
        return _starved(reading, phase)
    return RunResult(
        "timed_out", charged, None,
        f"The run was stopped {where or 'at'} {seconds_text(charged, budget)} s of "
        f"{clock_name(reading)}: the budget is {budget:.2f} s (+{grace:.2f} s grace).",
        reading, phase,
    )  # fmt: skip


def _starved(reading: Reading, phase: str) -> RunResult:
    """The host's fault: a fixed text (the figures behind it are the worker's log's)."""
    return RunResult(
        "starved", reading.charged, None,
        "The host gave this run too little CPU: other processes took its CPUs while it waited "
        "for them. Not your fault: it is run again.",
        reading, phase,  # type: ignore[arg-type]
    )  # fmt: skip


NOT_RETURNED = {
    "not_a_file": "What was written as the returned weights is not a regular file.",
    "too_large": "The returned weights are larger than twice the original model's file: return "
    "the model you were given (or its state dict), at its own precision.",
}


def _ended(watch: Watch, box: Sandbox, req: RunRequest, reading: Reading, phase: str) -> RunResult:
    """The run's process exited: collect what it returned and what its report says."""
    limits = req.limits
    elapsed = reading.charged
    where = "while importing your file" if phase == "import" else "during the run"
    watch.until(time.monotonic() + 60, lambda: watch.status.first(proto.Collected) is not None)
    watch.until(time.monotonic() + 5, lambda: watch.report.eof)  # its last report
    if watch.report.broken:
        return _forged(reading, phase)
    code = watch.status.first(proto.Exited)[1].code
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        hint = (
            f" (the memory limit is {limits.memory_bytes >> 20} MiB)"
            if -code == signal.SIGKILL
            else ""
        )
        return RunResult(
            "crashed", elapsed, None, f"The run's process was killed by {name} {where}{hint}.",
            reading, phase, reported=True,
        )  # fmt: skip
    if code != 0:
        failed = watch.report.last(proto.Failed)
        if failed is None:
            return RunResult(
                "crashed", elapsed, None,
                f"The run's process exited {where} with code {code} and no error report.",
                reading, phase, reported=True,
            )  # fmt: skip
        reason, message = render(failed, box.upload)
        return RunResult(reason, elapsed, None, message, reading, phase, reported=True)
    if watch.out_of_memory:
        return out_of_memory_result(limits, where, reading, phase)
    collected = watch.status.first(proto.Collected)
    returned = box.host / "result" / proto.OUTPUT_WEIGHTS
    if collected is None or not collected[1].returned or not returned.is_file():
        problem = collected[1].problem if collected is not None else None
        text = NOT_RETURNED.get(problem or "", "No returned weights were written.")
        return RunResult("invalid_output", elapsed, None, text, reading, phase)
    if phase == "import":  # exited cleanly before its data existed: nothing it wrote counts
        return RunResult(
            "invalid_output", elapsed, None, "The run's process ended before its run began.",
            reading, phase,
        )  # fmt: skip
    kept = req.log_path.with_suffix(".safetensors")
    shutil.move(returned, kept)
    budget = req.budget_seconds
    if elapsed > budget:
        if reading.clock == "wall" and reading.starved:  # the host's fault, not the run's
            kept.unlink(missing_ok=True)
            return _starved(reading, phase)
        return RunResult(
            "over_budget", elapsed, kept,
            f"The run took {elapsed:.1f} s of {clock_name(reading)}, over the budget of "
            f"{budget:.2f} s.",
            reading,
        )  # fmt: skip
    return RunResult("finished", elapsed, kept, "", reading)


def out_of_memory_result(
    limits: RunLimits, where: str, reading: Reading | None, phase: str = "run"
) -> RunResult:
    return RunResult(
        "out_of_memory", reading.charged if reading is not None else None, None,
        f"The run used more than its memory limit of {limits.memory_bytes >> 20} MiB {where} and was stopped.",
        reading, phase,  # type: ignore[arg-type]
    )  # fmt: skip


def _forged(reading: Reading, phase: str) -> RunResult:
    return RunResult(
        "crashed", reading.charged, None,
        "The run wrote something other than the platform's own messages on its report channel "
        "(participant code may not use it).",
        reading, phase,  # type: ignore[arg-type]
    )  # fmt: skip
