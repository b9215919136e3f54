"""One participant run, in the run's own process (PID 1 of the run's namespaces).

Order (docs/scoring.md §2): import the participant's module (its top-level code runs now, before any
hidden data exist in this run), report ``ready``, wait for the worker's go, then load the run's
data and weights, call ``unlearning`` and write the returned weights to the run's output
directory; the process then exits and its supervisor tells the worker.

Everything this process writes on its report channel is treated by the worker as forgeable
(participant code runs here): a failure is reported as an exception type and frames only, which
the worker checks against the stored upload. The full traceback, message included, goes to the
run's log, which organizers read (and which ``arena score-local`` shows on public data).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path

# The platform's own imports happen once, in the zygote, before any run and off the clock.
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, TensorDataset

from worker.ml.nets import build_model
from worker.ml.seeding import seed_everything
from worker.sandbox import protocol as proto

# exit codes of the run's process (the worker decides from its supervisor's report, not these)
EXIT_OK, EXIT_FAILED = 0, 1


def type_name(exc: BaseException) -> str:
    kind = type(exc)
    module = getattr(kind, "__module__", "") or ""
    qual = getattr(kind, "__qualname__", kind.__name__)
    return qual if module == "builtins" else f"{module}.{qual}"


def participant_frames(exc: BaseException, code_path: str) -> list[dict]:
    """Frames in the uploaded files: the entry, and for a zip every file beside or under it."""
    folder = os.path.dirname(code_path) + os.sep
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(folder)]
    return [{"file": f.filename, "line": int(f.lineno or 0), "function": f.name} for f in frames][
        -50:
    ]


class _Failed(Exception):
    """The trial ends here: ``phase`` and ``problem`` go on the report channel."""

    def __init__(self, phase: str, problem: str, exc: BaseException | None = None) -> None:
        super().__init__(problem)
        self.phase, self.problem, self.exc = phase, problem, exc


def run_child(code: str, control_fd: int, report_fd: int) -> int:
    """Run one trial; returns the process exit code. Platform imports are already done."""
    report = os.fdopen(report_fd, "wb", buffering=0)
    control = os.fdopen(control_fd, "rb")
    code_path = os.path.abspath(code)

    def send(event: str, **fields: object) -> None:
        report.write(proto.encode(event, **fields))

    try:
        unlearning = _import_submission(code_path)
        send("ready")
        line = control.readline()
        if not line:
            return EXIT_FAILED
        go = json.loads(line)
        net, loaders, device = _inputs(Path(go["input_dir"]))
        try:
            returned = unlearning(net, *loaders)
        except BaseException as exc:  # noqa: BLE001
            raise _Failed("run", "exception", exc) from None
        _save_returned(returned, device, go["output_path"])
    except _Failed as failed:
        if failed.exc is not None:  # the full traceback goes to the run's log (organizers only)
            traceback.print_exception(failed.exc)
            missing = getattr(failed.exc, "name", None) if failed.phase == "import" else None
            send(
                "failed", phase=failed.phase, problem=failed.problem,
                type=type_name(failed.exc)[:512], frames=participant_frames(failed.exc, code_path),
                module=missing[:128] if isinstance(failed.exc, ImportError) and isinstance(missing, str) else None,
            )  # fmt: skip
        else:
            send("failed", phase=failed.phase, problem=failed.problem)
        return EXIT_FAILED
    return EXIT_OK


def _import_submission(code_path: str):
    try:
        sys.path.insert(
            0, os.path.dirname(code_path)
        )  # a zip's helpers import as top-level modules
        spec = importlib.util.spec_from_file_location("submission", code_path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["submission"] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - anything the participant's import raises
        raise _Failed("import", "exception", exc) from None
    unlearning = getattr(module, "unlearning", None)
    if not callable(unlearning):
        raise _Failed("import", "no_unlearning")
    return unlearning


def _inputs(run_dir: Path) -> tuple[torch.nn.Module, tuple[DataLoader, ...], torch.device]:
    """The original model and the retain, forget and validation loaders, seeded."""
    spec_json = json.loads((run_dir / proto.INPUT_SPEC).read_text())
    torch.set_num_threads(int(spec_json["threads"]))
    device = torch.device(spec_json["device"])
    split_data = load_file(str(run_dir / proto.INPUT_DATA))
    net = build_model(spec_json["model"])
    net.load_state_dict(load_file(str(run_dir / proto.INPUT_WEIGHTS)), strict=True)
    net.to(device).eval()
    gen = seed_everything(int(spec_json["seed"]))
    batch = int(spec_json["batch_size"])

    def loader(split: str, shuffle: bool) -> DataLoader:
        ds = TensorDataset(split_data[f"{split}_x"], split_data[f"{split}_y"])
        return DataLoader(ds, batch_size=batch, shuffle=shuffle, generator=gen if shuffle else None)

    return net, (loader("retain", True), loader("forget", True), loader("val", False)), device


def _save_returned(returned: object, device: torch.device, output_path: str) -> None:
    """What ``unlearning`` returned (a module or a state dict of tensors), saved as weights."""
    problem = None
    try:  # state_dict(), items() and .to() may run participant code
        if isinstance(returned, torch.nn.Module):
            state = returned.state_dict()
        elif isinstance(returned, Mapping):
            state = returned
        else:
            state, problem = {}, "bad_return"
        tensors = {}
        for key, value in state.items():
            if not isinstance(key, str) or not torch.is_tensor(value):
                problem = problem or "bad_state_dict"
                break
            tensors[key] = value.detach().to("cpu").contiguous()
        if device.type == "cuda":
            torch.cuda.synchronize()
    except BaseException as exc:  # noqa: BLE001 - a state_dict() or .to() of theirs that raises
        raise _Failed("output", "exception", exc) from None
    if problem is not None:
        raise _Failed("output", problem)
    try:
        save_file(tensors, output_path)
    except BaseException:  # noqa: BLE001 - e.g. tensors sharing memory
        traceback.print_exc()
        raise _Failed("output", "unsaveable") from None
