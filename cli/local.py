"""`arena score-local`: score a submission on public data, on the participant's machine.

The same preparation, sandboxed runner, evaluation and `scoring/` code as the platform. The
data are public: the demo's (they ship with scikit-learn), or a competition's development
split from its starter kit (`arena kit`: its settings, model module and dev.npz), so the full
run logs can be shown.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from core.bundle import CONFIG_NAME, DEV_NAME, Bundle
from core.bundle_validation import bundle_config
from core.competition_config import CompetitionConfig, demo_config
from core.results import SubmissionResult
from worker import hardware
from worker.jobs.score import run_seed
from worker.ml import artefacts
from worker.ml.nets import model_imports
from worker.ml.preparation import prepare
from worker.ml.problem import build_problem
from worker.pipeline.finalize import score_outputs
from worker.pipeline.stage import SubmissionFailed
from worker.pipeline.stored_runs import dropped_runs
from worker.pipeline.trials import (
    jail_for,
    make_setup,
    open_runner,
    run_clock,
    run_trial,
    runnable_code,
    verdict,
)
from worker.runtime import runtime_in
from worker.sandbox.runner import RunResult

KIT_DEFAULT_N = 8  # references trained locally unless -n says otherwise

PUBLIC_COMPETITIONS: dict[str, Callable[[], CompetitionConfig]] = {"digits-demo": demo_config}
Progress = Callable[[str, int, int], None]


@dataclass
class LocalResult:
    result: SubmissionResult | None
    failure: tuple[str, str] | None
    runs: list[RunResult]
    log_dir: Path
    budget_seconds: float
    clock: str = "wall"  # what the runs and the budget were timed by here


def local_config(slug: str, n_models: int | None) -> CompetitionConfig:
    """A public competition's settings at the local N (default: 8, or its N if smaller)."""
    if slug not in PUBLIC_COMPETITIONS:
        raise ValueError(
            f"no public data for {slug!r}; score-local knows: {', '.join(PUBLIC_COMPETITIONS)}"
        )
    cfg = PUBLIC_COMPETITIONS[slug]()
    cfg.scoring.n_models = max(2, n_models or min(KIT_DEFAULT_N, cfg.scoring.n_public))
    return cfg


@dataclass(frozen=True)
class KitCompetition:
    config: CompetitionConfig
    data_file: Path | None  # the dev split (None: built-in public data)
    platform_n: int  # the N the competition itself uses


def kit_config(kit: Path, n_models: int | None) -> KitCompetition:
    """A starter kit's competition: its settings with the model module beside them, scored on
    its dev split (``dev.npz``) at ``n_models`` (default: 8, or the competition's N if smaller)."""
    settings = kit / CONFIG_NAME
    if not settings.is_file():
        raise ValueError(
            f"{kit} has no {CONFIG_NAME}: download a competition's kit with `arena kit SLUG`"
        )
    files = {CONFIG_NAME: settings.read_bytes()}
    files |= {p.name: p.read_bytes() for p in kit.glob("*.py") if p.is_file()}
    cfg = bundle_config(Bundle(files))
    data_file = None
    if cfg.dataset.source == "upload":
        data_file = kit / DEV_NAME
        if not data_file.is_file():
            raise ValueError(
                f"{cfg.slug!r} has hidden data and its kit no development split ({DEV_NAME}); "
                "it cannot be scored locally"
            )
    platform_n = cfg.scoring.n_public
    n = n_models or min(KIT_DEFAULT_N, platform_n)
    cfg = cfg.model_copy(deep=True)
    cfg.scoring.n_models = max(2, n)
    return KitCompetition(cfg, data_file, platform_n)


def _prepared(
    cfg: CompetitionConfig,
    cache: Path,
    device: torch.device,
    progress: Progress,
    data_file: Path | None = None,
    clock: str = "wall",
) -> tuple[Path, float]:
    """Prepared artefacts for ``cfg`` (and its data) in the cache (made once), and the local
    budget on ``clock`` (timed again when the clock here changed)."""
    digest = hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode())
    if data_file is not None:
        digest.update(data_file.read_bytes())
    comp_dir = cache / f"{cfg.slug}-{digest.hexdigest()[:12]}"
    marker = comp_dir / "local-budget.json"
    if not marker.is_file() or json.loads(marker.read_text()).get("clock", "wall") != clock:
        if not marker.is_file():
            shutil.rmtree(comp_dir, ignore_errors=True)
        timing, _ = prepare(cfg, comp_dir, device, progress, data_file=data_file, clock=clock)
        marker.write_text(
            json.dumps(
                {
                    "original_seconds": timing.original_seconds,
                    "budget_seconds": timing.budget_seconds,
                    "clock": timing.clock,
                }
            )
        )
    return comp_dir, float(json.loads(marker.read_text())["budget_seconds"])


def _run_all(setup, code_path: Path, run_dir: Path, n: int, progress: Progress):
    """Runs 0..n-1 in one sandbox: (results, indices finished in budget, first failure)."""
    runs: list[RunResult] = []
    used: list[int] = []
    charged: list[float] = []
    with open_runner(setup, code_path) as runner:
        for index in range(n):
            progress("runs", index, n)
            out = run_dir / f"{index:05d}.npz"
            log_path = run_dir / f"run-{index:05d}.log"
            result = run_trial(setup, runner, run_seed(0, index), log_path, out)
            runs.append(result)
            failure = verdict(result, index, n, setup, charged)
            if failure is not None:
                return runs, used, (failure.reason, failure.message)
            if result.outcome == "finished":
                used.append(index)
                charged.append(result.seconds or 0.0)
    return runs, used, None


def score_local(
    code_path: Path,
    cfg: CompetitionConfig,
    cache: Path,
    *,
    threads: int = 0,
    sandbox_user: str = "arena-sandbox",
    progress: Progress = lambda stage, done, total: None,
    data_file: Path | None = None,
    wheelhouse: Path | None = None,
) -> LocalResult:
    threads = hardware.cpu_threads(threads)
    torch.set_num_threads(threads)
    device = hardware.device()
    runtime = runtime_in(cfg.runtime, cache / "runtimes", wheelhouse)
    jail = jail_for(sandbox_user, allow_unconfined=True)
    clock = run_clock(cfg, device, jail)  # the server's rule, on this machine
    with model_imports(runtime.site):  # the organizer's model may import the runtime's packages
        comp_dir, budget = _prepared(cfg, cache, device, progress, data_file, clock)
    problem = build_problem(cfg, data_file)
    run_dir = comp_dir / "local-runs"
    shutil.rmtree(run_dir, ignore_errors=True)
    setup = make_setup(
        cfg,
        problem,
        comp_dir,
        run_dir,
        device=device,
        threads=threads,
        budget_seconds=budget,
        clock=clock,
        jail=jail,
        runtime=runtime,
        hidden_data=False,  # public data: the full messages are the participant's
    )
    code_path = runnable_code(code_path, run_dir)
    n = cfg.scoring.n_public
    runs, used, failure = _run_all(setup, code_path, run_dir, n, progress)
    if failure is not None:
        return LocalResult(None, failure, runs, run_dir, budget, clock)
    progress("runs", n, n)
    original = artefacts.load_outputs(comp_dir / artefacts.ORIGINAL_OUTPUTS)
    statuses = [(i, "finished" if i in used else "over_budget") for i in range(n)]
    try:  # the server's rule: a dropped run counts as the original model
        dropped = set(dropped_runs(cfg, statuses, budget, n))
    except SubmissionFailed as failure:
        return LocalResult(None, (failure.reason, failure.message), runs, run_dir, budget, clock)
    unlearned = artefacts.stack_outputs(
        [
            original if i in dropped else artefacts.load_outputs(run_dir / f"{i:05d}.npz")
            for i in range(n)
        ]
    )
    refs = artefacts.load_stack(comp_dir / artefacts.REFERENCES).head(n)
    result = score_outputs(
        unlearned, refs, problem.forget.y.numpy(), cfg.scoring, original=original
    )
    result.runs_dropped, result.clock, result.budget_seconds = len(dropped), clock, budget
    return LocalResult(result, None, runs, run_dir, budget, clock)
