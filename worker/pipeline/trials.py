"""One trial: a sandboxed run of the participant's function, then evaluation of what it returned.

Shared by the platform's scoring job and by `arena score-local`, so that a participant's local
numbers come from exactly the same runner and scoring code as the server's.
"""

from __future__ import annotations

import hashlib
import logging
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from core.competition_config import CompetitionConfig
from core.notebooks import notebook_to_script
from core.submission_zip import read_submission_zip, unpack
from worker.ml import artefacts
from worker.ml.evaluation import InvalidOutput, evaluate_returned
from worker.ml.nets import model_imports
from worker.ml.preparation import grace_seconds, spec_for
from worker.ml.problem import Problem
from worker.pipeline.published import published
from worker.runtime import Runtime
from worker.sandbox import cgroups
from worker.sandbox.clock import Clock
from worker.sandbox.drive import seconds_text
from worker.sandbox.jail import Jail, SandboxUnavailable, detect
from worker.sandbox.runner import RunLimits, RunRequest, RunResult, Sandbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialSetup:
    config: CompetitionConfig
    problem: Problem
    spec: dict[str, Any]
    device: torch.device
    threads: int
    budget_seconds: float  # on ``clock``, the upload's import included
    grace_seconds: float
    clock: Clock  # what runs are charged by (docs/scoring.md §1)
    weights_path: Path  # the original model
    data_path: Path  # retain/forget/val tensors handed to each run
    jail: Jail | None  # None only with ARENA_UNSAFE_NO_SANDBOX=1
    limits: RunLimits
    runtime: Runtime = field(default_factory=lambda: Runtime(None))
    hidden_data: bool = True  # False: public data (diagnostic run, score-local), full messages


def run_seed(submission_id: int, index: int) -> int:
    """Seed of run ``index``: from (submission id, run index), distinct across runs."""
    digest = hashlib.sha256(f"arena-run:{submission_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def jail_for(sandbox_user: str, allow_unconfined: bool) -> Jail | None:
    """The jail participant code runs in; None (unconfined) only when explicitly allowed."""
    try:
        return detect(sandbox_user)
    except SandboxUnavailable:
        if allow_unconfined:
            log.warning("ARENA_UNSAFE_NO_SANDBOX=1: running participant code WITHOUT a sandbox")
            return None
        raise


def runnable_code(stored: Path, work_dir: Path) -> Path:
    """The Python file a run executes: the upload itself, a notebook's cells as a script, or a
    zip's entry module, unpacked with its helpers (checked again here, as at upload)."""
    if stored.suffix == ".zip":
        unpacked = read_submission_zip(stored.read_bytes(), 1 << 40, 1 << 20)
        return unpack(unpacked, work_dir / "unpacked")
    if stored.suffix != ".ipynb":
        return stored
    script = work_dir / "notebook.py"
    script.write_text(notebook_to_script(stored.read_bytes()))
    return script


def write_run_data(problem: Problem, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {
            "retain_x": problem.retain.x,
            "retain_y": problem.retain.y,
            "forget_x": problem.forget.x,
            "forget_y": problem.forget.y,
            "val_x": problem.val.x,
            "val_y": problem.val.y,
        },
        str(path),
    )


def make_setup(
    config: CompetitionConfig,
    problem: Problem,
    competition_dir: Path,
    work_dir: Path,
    *,
    device: torch.device,
    threads: int,
    budget_seconds: float,
    clock: Clock | None = None,
    jail: Jail | None,
    runtime: Runtime | None = None,
    hidden_data: bool = True,
) -> TrialSetup:
    data_path = work_dir / "data.safetensors"
    write_run_data(problem, data_path)
    return TrialSetup(
        config=config,
        problem=problem,
        spec=spec_for(config, problem),
        device=device,
        threads=threads,
        budget_seconds=budget_seconds,
        grace_seconds=grace_seconds(budget_seconds, config),
        clock=clock or run_clock(config, device, jail),
        weights_path=competition_dir / artefacts.ORIGINAL,
        data_path=data_path,
        jail=jail,
        limits=RunLimits(
            memory_bytes=config.limits.memory_mb << 20,
            address_space_limit=device.type != "cuda",
        ),
        runtime=runtime or Runtime(None),
        hidden_data=hidden_data,
    )


def _request(setup: TrialSetup, code_path: Path, seed: int, log_path: Path) -> RunRequest:
    return RunRequest(
        code_path=code_path,
        data_path=setup.data_path,
        weights_path=setup.weights_path,
        spec={
            "model": setup.spec,
            "seed": seed,
            "batch_size": setup.config.loader_batch_size,
            "device": str(setup.device),
            "threads": setup.threads,
        },
        budget_seconds=setup.budget_seconds,
        grace_seconds=setup.grace_seconds,
        clock=setup.clock,
        log_path=log_path,
        jail=setup.jail,
        limits=setup.limits,
        runtime_site=setup.runtime.site,
        runtime_packages=tuple(f"{k} {v}" for k, v in setup.runtime.lock.items()),
    )


def open_runner(setup: TrialSetup, code_path: Path) -> Sandbox:
    """The sandbox that runs this submission's trials, one fresh fork each (use as a context)."""
    return Sandbox(
        code_path, setup.jail, setup.limits, _request(setup, code_path, 0, Path("/dev/null"))
    )


MAX_RERUNS = 2  # of a run the host starved (docs/scoring.md §1), before the host is blamed


def run_trial(
    setup: TrialSetup, runner: Sandbox, seed: int, log_path: Path, outputs_path: Path
) -> RunResult:
    """Run once in the sandbox; on success the evaluated outputs are saved to ``outputs_path``.
    On hidden data, what the participant may read of the result is :func:`published`'s."""
    result = _evaluated(setup, _attempts(setup, runner, seed, log_path), outputs_path)
    return published(result) if setup.hidden_data else result


def _attempts(setup: TrialSetup, runner: Sandbox, seed: int, log_path: Path) -> RunResult:
    """The run, and again, free, up to MAX_RERUNS times while the host starved it of CPU
    (each attempt noted in its log); one still starved then is returned as such."""
    notes = []
    for attempt in range(MAX_RERUNS + 1):
        result = runner.run(_request(setup, runner.code_path, seed, log_path))
        if result.outcome != "starved":
            break
        log.warning("run starved by the host (attempt %d): %s", attempt + 1, result.message)
        notes.append(f"[arena] attempt {attempt + 1}: {result.message}")
    if notes:  # the log is the last attempt's: the earlier ones are noted under it
        with log_path.open("a") as fh:
            fh.write("\n" + "\n".join(notes) + "\n")
    return result


def _evaluated(setup: TrialSetup, result: RunResult, outputs_path: Path) -> RunResult:
    """The returned weights evaluated by the organizer's model, outside the sandbox."""
    if result.weights_path is None:
        return result
    try:
        with model_imports(setup.runtime.site):  # the organizer's model may import its packages
            outputs = evaluate_returned(
                result.weights_path, setup.spec, setup.problem, setup.device
            )
    except InvalidOutput as exc:
        return RunResult(
            "invalid_output", result.seconds, None, str(exc), result.reading, reported=True
        )
    except Exception:  # noqa: BLE001 - whatever the weights do to the model: not provably ours
        log.exception("evaluating the returned weights failed")
        return RunResult(
            "invalid_output", result.seconds, None,
            "The returned weights could not be evaluated with the organizer's model.", result.reading,
        )  # fmt: skip
    finally:
        result.weights_path.unlink(missing_ok=True)
    artefacts.save_outputs(outputs, outputs_path)
    return result


def run_clock(config: CompetitionConfig, device: torch.device, jail: Jail | None) -> Clock:
    """The clock runs (and the original training) are timed by on this worker: wall time on a
    GPU or where the competition asks for it, else CPU time where the sandbox can account it."""
    if device.type == "cuda" or config.scoring.clock == "wall" or jail is None:
        return "wall"
    return "cpu" if cgroups.detect().cpu_accounting else "wall"


@dataclass(frozen=True)
class Verdict:
    """Why one run fails its submission: a failure reason and the participant's message."""

    reason: str
    message: str
    counts: bool = True  # False: the platform's fault, not counted against its author


def verdict(
    result: RunResult, index: int, n: int, setup: TrialSetup, earlier: Sequence[float] = ()
) -> Verdict | None:
    """Why this run fails the submission, or None; ``earlier``: the charged times of the runs
    before it that finished (for the message)."""
    if result.outcome == "starved":
        return Verdict(
            "infrastructure",
            f"Run {index + 1} of {n} could not get its CPUs from a busy worker after "
            f"{MAX_RERUNS + 1} tries. This is the platform's fault and does not count against "
            "your limits; submit again later.\n" + result.message,
            counts=False,
        )
    if result.outcome not in ("finished", "over_budget"):
        return Verdict(
            result.outcome, f"Run {index + 1} of {n} failed ({result.outcome}).\n{result.message}"
        )
    if result.outcome == "over_budget" and setup.config.scoring.over_budget == "fail":
        budget = setup.budget_seconds
        name = "CPU time" if result.clock == "cpu" else "wall time"
        median = f"; your runs' median {statistics.median(earlier):.1f} s" if earlier else ""
        return Verdict(
            "over_budget",
            f"Run {index + 1} of {n} went over the budget: {name} {seconds_text(result.seconds, budget)} s "
            f"of a {budget:.2f} s budget{median}. Under this competition's policy any run over "
            f"budget fails the submission; check ARENA_BUDGET_SECONDS against "
            f"{'time.process_time()' if result.clock == 'cpu' else 'the time since your import'} "
            "inside each epoch (the import is on the clock).",
        )
    return None
