"""One run's course in a started sandbox: the go signal, the wait on the status channel, and
the verdict from what the supervisor (trusted) and the run (untrusted) said."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from typing import TYPE_CHECKING

from worker.sandbox import protocol as proto
from worker.sandbox.failure_report import render
from worker.sandbox.run_spec import IsolationFailed, RunLimits, RunRequest, RunResult
from worker.sandbox.watch import Watch

if TYPE_CHECKING:
    from worker.sandbox.runner import Sandbox


def _exited(watch: Watch) -> bool:
    return watch.status.first(proto.Exited) is not None or _setup_failed(watch)


def _setup_failed(watch: Watch) -> bool:
    return watch.status.first(proto.SetupFailed) is not None


def drive(watch: Watch, go_w: int, req: RunRequest, box: Sandbox) -> RunResult:
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
            return out_of_memory_result(limits, "while importing your file", None)
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
            return out_of_memory_result(limits, "during the run", elapsed)
        if watch.status.eof:
            return RunResult("crashed", elapsed, None, "The run's sandbox stopped unexpectedly.")
        return RunResult(
            "timed_out", elapsed, None,
            f"The run was stopped after {elapsed:.1f} s: the budget is {req.budget_seconds:.1f} s "
            f"(+{req.grace_seconds:.1f} s grace).",
        )  # fmt: skip
    return _ended(watch, box, req, "during the run", exited[0] - start)


def _ended(
    watch: Watch, box: Sandbox, req: RunRequest, phase: str, elapsed: float | None
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
        return out_of_memory_result(limits, phase, elapsed)
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


def out_of_memory_result(limits: RunLimits, phase: str, elapsed: float | None) -> RunResult:
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
