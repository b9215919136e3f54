"""Check a competition's model module before anything is created: in a jail, never in-process.

:func:`check_model` writes the model's spec to a temporary folder, runs
``worker.ml.model_check`` on it jailed (:mod:`core.jailed`), and raises :class:`Invalid` with
every problem the check found, each saying what to fix. The API calls it on create, update
and dataset upload; ``arena competition validate`` calls it offline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from core.competition_config import CompetitionConfig, ModuleModel
from core.errors import Invalid, Unavailable
from core.jailed import INPUTS, JailUnavailable, run_python_module


class CheckUnavailable(Unavailable):
    """This machine cannot run the jailed check (no bubblewrap, or it cannot start): a 503
    that says what to install, never the organizer's fault."""


CHECKER = "worker.ml.model_check"
CHECK_TIMEOUT = 120.0


def example_shape(cfg: CompetitionConfig, uploaded: list[int] | None = None) -> list[int] | None:
    """The shape of one example, where it is known before training: the built-in dataset's,
    the uploaded dataset's, or ``dataset.input_shape``."""
    if uploaded:
        return uploaded
    if cfg.dataset.source == "builtin":
        return [1, 8, 8] if cfg.dataset.loader == "sklearn_digits_image" else [64]
    return list(cfg.dataset.input_shape) if cfg.dataset.input_shape else None


def n_classes_of(cfg: CompetitionConfig) -> int:
    return int(cfg.dataset.n_classes or 10) if cfg.dataset.source == "upload" else 10


def check_model(
    cfg: CompetitionConfig, input_shape: list[int] | None = None, *, jailed: bool = True
) -> dict[str, Any]:
    """The check's report for ``cfg``'s module model; raises Invalid listing its problems.
    ``jailed=False`` (offline validation of one's own code only) runs it as a plain subprocess."""
    model = cfg.model
    if not isinstance(model, ModuleModel):
        return {"problems": []}
    if not model.source:
        raise Invalid(
            f"model.module: {model.module} is not in the bundle; put it at the bundle's top "
            "(next to competition.yaml) and create the competition from the bundle"
        )
    shape = example_shape(cfg, input_shape)
    spec = {
        **model.model_dump(mode="json"),
        "input_shape": shape or [],
        "n_classes": n_classes_of(cfg),
        "runtime_packages": list(cfg.runtime.packages),
    }
    with tempfile.TemporaryDirectory(prefix="arena-model-check-") as tmp:
        folder = Path(tmp)
        (folder / "check.json").write_text(json.dumps({"model": spec}))
        out, err, timed_out = _run(folder, jailed)
    if timed_out:
        raise Invalid(
            f"model.module: checking {model.module} took over {CHECK_TIMEOUT:.0f} s (building "
            "the model and one forward pass on two examples); make it build faster"
        )
    try:
        report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        problems = [str(p) for p in report["problems"]]
    except (ValueError, IndexError, KeyError, TypeError):
        tail = err.strip()[-600:] or "no output"
        raise Invalid(
            f"model.module: checking {model.module} failed before it could report ({tail}); "
            "it may have used too much memory (the check allows 6 GiB) or exited"
        ) from None
    if problems:
        raise Invalid(
            f"model.module: {model.module} cannot be used: " + "; ".join(problems),
            extra={"problems": [f"model.module: {p}" for p in problems]},
        )
    return report


def checked_settings(
    cfg: CompetitionConfig, old: CompetitionConfig | None, input_shape: list[int] | None
) -> CompetitionConfig:
    """A settings file sent alone (YAML or JSON) keeps the module's source it had; the module
    model is checked (jailed) whenever it or the data it sees changed."""
    model = cfg.model
    if not isinstance(model, ModuleModel):
        return cfg
    if model.source is None and isinstance(old and old.model, ModuleModel):
        assert old is not None and isinstance(old.model, ModuleModel)
        if old.model.module == model.module:
            cfg = cfg.model_copy(deep=True)
            assert isinstance(cfg.model, ModuleModel)
            cfg.model.source = old.model.source
    if old is None or old.model != cfg.model or old.dataset != cfg.dataset:
        check_model(cfg, input_shape)
    return cfg


def _run(folder: Path, jailed: bool) -> tuple[str, str, bool]:
    if jailed:
        try:
            done = run_python_module(
                CHECKER, [f"{INPUTS}/check.json"], folder, timeout=CHECK_TIMEOUT
            )
        except JailUnavailable as exc:
            raise CheckUnavailable(
                f"Organizer code cannot be checked on this server: {exc}"
            ) from None
        if done.returncode != 0 and done.stderr.lstrip().startswith("bwrap:"):
            raise CheckUnavailable(
                "Organizer code cannot be checked on this server: bubblewrap could not build "
                f"its jail ({done.stderr.strip()[:300]}); an operator must enable unprivileged "
                "user namespaces or run the API where the sandbox works"
            )
        return done.stdout, done.stderr, done.timed_out
    try:
        plain = subprocess.run(
            [sys.executable, "-I", "-m", CHECKER, str(folder / "check.json")],
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "", "", True
    return plain.stdout, plain.stderr, False


__all__ = ["CheckUnavailable", "check_model", "checked_settings", "example_shape"]
