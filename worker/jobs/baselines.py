"""Known methods scored at the end of a preparation (``validity.baselines``): each runs N times
(the public N) in the sandbox with the platform's own runner, is evaluated and scored like any
submission, and becomes a marked row on both boards ("baseline: finetune (N = 64)"), the floor
every entry should beat. Their device time is charged to the preparation, never to a person.

A baseline that fails (a kit file that is not there, a run that crashes or goes over budget) is
left off the boards with its reason in the reference summary; it never fails the preparation.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.bundle import stored
from core.competition_config import CompetitionConfig
from core.db import session_scope
from core.models import Competition
from core.settings import Settings
from core.splits import public_mask
from core.storage import Storage
from worker import hardware
from worker.ml import artefacts
from worker.ml.preparation import reference_row
from worker.ml.problem import Problem
from worker.ml.training import ModelOutputs
from worker.pipeline.finalize import score_outputs
from worker.pipeline.trials import (
    jail_for,
    make_setup,
    open_runner,
    run_seed,
    run_trial,
    runnable_code,
    verdict,
)
from worker.runtime import runtime_for

log = logging.getLogger(__name__)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEED_BASE = 1 << 30  # run seeds apart from every submission's (ids are far below this)


def score_baselines(
    competition_id: int,
    config: CompetitionConfig,
    settings: Settings,
    problem: Problem,
    budget_seconds: float,
) -> tuple[dict[str, Any], dict[str, str], float]:
    """Rows (stored JSON) of the baselines that scored, the reasons of those that did not, and
    the device seconds their runs took."""
    rows: dict[str, Any] = {}
    failures: dict[str, str] = {}
    seconds = 0.0
    names = config.validity.baselines
    if not names:
        return rows, failures, seconds
    storage = Storage(settings)
    comp_dir = storage.competition_dir(config.slug)
    refs = artefacts.load_stack(storage.pull(comp_dir / artefacts.REFERENCES))
    original = artefacts.load_outputs(storage.pull(comp_dir / artefacts.ORIGINAL_OUTPUTS))
    storage.pull(comp_dir / artefacts.ORIGINAL)
    for k, name in enumerate(names):
        work = comp_dir / "baselines" / f"{k}"
        try:
            code = _code_of(name, competition_id, storage, work)
            outputs, spent = _run(
                config, problem, settings, comp_dir, work, code, budget_seconds, k
            )
            seconds += spent
            kept = outputs_file(comp_dir, name)  # rescoring scores them again from here
            kept.parent.mkdir(parents=True, exist_ok=True)
            artefacts.save_outputs(outputs, kept)
            storage.push(kept)
            labels = problem.forget.y.numpy()
            row = baseline_row(config, name, outputs, refs, labels, original)
            row["run_seconds_median"] = spent / len(outputs)
            rows[name] = row
        except _Failed as failure:
            failures[name] = str(failure)
            seconds += failure.seconds
        except Exception as exc:  # noqa: BLE001 - a baseline never fails the preparation
            log.exception("baseline %s of %s failed", name, config.slug)
            failures[name] = f"{type(exc).__name__}: {exc}"[:500]
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return rows, failures, seconds


def outputs_file(comp_dir: Path, name: str) -> Path:
    return comp_dir / "baseline-outputs" / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".npz")


def baseline_row(
    config: CompetitionConfig,
    name: str,
    outputs: artefacts.OutputsStack,
    refs: artefacts.OutputsStack,
    labels: np.ndarray,
    original: ModelOutputs,
) -> dict[str, Any]:
    """A baseline's board row (stored JSON): its N runs scored against the first N references."""
    n = len(outputs)
    public = public_mask(len(labels), config.leaderboard.public_fraction, config.seed)
    result = score_outputs(
        outputs, refs.head(n), labels, config.scoring, original=original, public=public
    )
    return reference_row(result, f"baseline: {name} (N = {n})").stored()


def rescore_baselines(
    config: CompetitionConfig,
    storage: Storage,
    refs: artefacts.OutputsStack,
    labels: np.ndarray,
    original: ModelOutputs,
    before: dict[str, Any],
) -> dict[str, Any]:
    """The baselines' rows under the current settings, from their kept outputs."""
    comp_dir = storage.competition_dir(config.slug)
    rows = {}
    for name, old in before.items():
        try:
            outputs = artefacts.load_stack(storage.pull(outputs_file(comp_dir, name)))
        except FileNotFoundError:
            continue  # kept outputs gone: the row goes with them
        row = baseline_row(config, name, outputs, refs, labels, original)
        row["run_seconds_median"] = (old or {}).get("run_seconds_median")
        rows[name] = row
    return rows


class _Failed(Exception):
    def __init__(self, message: str, seconds: float = 0.0):
        super().__init__(message)
        self.seconds = seconds


def _code_of(name: str, competition_id: int, storage: Storage, work: Path) -> Path:
    """The baseline's file: a platform example, or a file of the bundle's starter kit."""
    work.mkdir(parents=True, exist_ok=True)
    if not name.startswith("kit:"):
        return EXAMPLES / f"{name}.py"
    with session_scope() as s:
        comp = s.get(Competition, competition_id)
        meta = dict(comp.bundle or {}) if comp is not None else {}
        slug = comp.slug if comp is not None else ""
    if not meta.get("file"):
        raise _Failed(f"{name}: the competition has no bundle, so no starter kit")
    kit = stored(storage.pull(storage.bundle_file(slug, str(meta["sha256"])))).kit()
    data = kit.get(f"kit/{name.removeprefix('kit:')}")
    if data is None:
        raise _Failed(
            f"{name}: no such file in the starter kit ({', '.join(sorted(kit)) or 'empty'})"
        )
    path = work / Path(name).name
    path.write_bytes(data)
    return runnable_code(path, work)


def _run(
    config: CompetitionConfig,
    problem: Problem,
    settings: Settings,
    comp_dir: Path,
    work: Path,
    code: Path,
    budget_seconds: float,
    k: int,
) -> tuple[artefacts.OutputsStack, float]:
    """N sandboxed runs, evaluated; their outputs stacked, and the seconds they took."""
    threads = hardware.cpu_threads(settings.worker_threads)
    torch.set_num_threads(threads)
    setup = make_setup(
        config,
        problem,
        comp_dir,
        work,
        device=hardware.device(),
        threads=threads,
        budget_seconds=budget_seconds,
        jail=jail_for(settings.sandbox_user, settings.unsafe_no_sandbox),
        runtime=runtime_for(config.runtime, settings),
    )
    n = config.scoring.n_public
    outputs, spent = [], 0.0
    with open_runner(setup, code) as runner:
        for i in range(n):
            path = work / f"{i}.npz"
            start = time.perf_counter()
            result = run_trial(setup, runner, run_seed(SEED_BASE + k, i), work / f"{i}.log", path)
            spent += time.perf_counter() - start
            failed = verdict(result, i, n, setup)
            if failed is not None:
                raise _Failed(f"{failed.reason}: {failed.message}"[:500], spent)
            outputs.append(artefacts.load_outputs(path))
    return artefacts.stack_outputs(outputs), spent
