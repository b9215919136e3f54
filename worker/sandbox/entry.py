"""One participant run, in the run's own process (PID 1 of the run's namespaces).

Order (SCORING.md §2): import the participant's module (its top-level code runs now, before any
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
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == code_path]
    return [{"file": f.filename, "line": int(f.lineno or 0), "function": f.name} for f in frames][
        -50:
    ]


def run_child(code: str, control_fd: int, report_fd: int) -> int:
    """Run one trial; returns the process exit code. Platform imports are already done."""
    report = os.fdopen(report_fd, "wb", buffering=0)
    control = os.fdopen(control_fd, "rb")

    def send(event: str, **fields: object) -> None:
        report.write(proto.encode(event, **fields))

    def fail(phase: str, problem: str, exc: BaseException | None = None) -> int:
        if exc is not None:
            traceback.print_exc()  # the full traceback goes to the run's log (organizers only)
            send(
                "failed", phase=phase, problem=problem,
                type=type_name(exc)[:512], frames=participant_frames(exc, code_path),
            )  # fmt: skip
        else:
            send("failed", phase=phase, problem=problem)
        return EXIT_FAILED

    code_path = os.path.abspath(code)
    try:
        spec = importlib.util.spec_from_file_location("submission", code_path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["submission"] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - anything the participant's import raises
        return fail("import", "exception", exc)
    unlearning = getattr(module, "unlearning", None)
    if not callable(unlearning):
        return fail("import", "no_unlearning")
    send("ready")

    line = control.readline()
    if not line:
        return EXIT_FAILED
    go = json.loads(line)
    run_dir = Path(go["input_dir"])
    output_path = go["output_path"]

    spec_json = json.loads((run_dir / proto.INPUT_SPEC).read_text())
    torch.set_num_threads(int(spec_json["threads"]))
    device = torch.device(spec_json["device"])
    split_data = load_file(str(run_dir / proto.INPUT_DATA))
    net = build_model(spec_json["model"])
    net.load_state_dict(load_file(str(run_dir / proto.INPUT_WEIGHTS)), strict=True)
    net.to(device).eval()
    seed = int(spec_json["seed"])
    gen = seed_everything(seed)
    batch = int(spec_json["batch_size"])

    def loader(split: str, shuffle: bool) -> DataLoader:
        ds = TensorDataset(split_data[f"{split}_x"], split_data[f"{split}_y"])
        return DataLoader(ds, batch_size=batch, shuffle=shuffle, generator=gen if shuffle else None)

    retain_loader, forget_loader, val_loader = (
        loader("retain", True),
        loader("forget", True),
        loader("val", False),
    )
    try:
        returned = unlearning(net, retain_loader, forget_loader, val_loader)
    except BaseException as exc:  # noqa: BLE001
        return fail("run", "exception", exc)

    try:
        if isinstance(returned, torch.nn.Module):
            state = returned.state_dict()
        elif isinstance(returned, Mapping):
            state = returned
        else:
            return fail("output", "bad_return")
        tensors = {}
        for key, value in state.items():
            if not isinstance(key, str) or not torch.is_tensor(value):
                return fail("output", "bad_state_dict")
            tensors[key] = value.detach().to("cpu").contiguous()
        if device.type == "cuda":
            torch.cuda.synchronize()
    except BaseException as exc:  # noqa: BLE001 - a state_dict() or .to() of theirs that raises
        return fail("output", "exception", exc)
    try:
        save_file(tensors, output_path)
    except BaseException:  # noqa: BLE001 - e.g. tensors sharing memory
        traceback.print_exc()
        return fail("output", "unsaveable")
    return EXIT_OK
