"""One participant run, in a process forked from the sandbox's pre-warmed zygote.

Order (SCORING.md §2): import the participant's module (its top-level code runs now, before any
hidden data exists in the run directory), report ready, wait for the worker's go, then load the
run's data and weights, call ``unlearning`` and write the returned weights.
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

from worker import sandbox_protocol as proto
from worker.nets import build_model
from worker.seeding import seed_everything

MESSAGE_LIMIT = 500
FRAMES_SHOWN = 8


def participant_traceback(exc: BaseException, code_path: str) -> str:
    """The exception type and message (cut to 500 characters) and the participant's own frames."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == code_path]
    lines = []
    if frames:
        lines.append("Traceback (most recent call last, your code only):")
        for f in frames[-FRAMES_SHOWN:]:
            lines.append(f'  File "{Path(f.filename).name}", line {f.lineno}, in {f.name}')
            if f.line:
                lines.append(f"    {f.line}")
    message = str(exc)
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + " …"
    lines.append(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)
    return "\n".join(lines)


def _kind(exc: BaseException) -> str:
    text = str(exc)
    if (
        isinstance(exc, MemoryError)
        or "not enough memory" in text
        or "can't allocate memory" in text
    ):
        return "out_of_memory"
    return "crashed"


def run_child(code: str, control_fd: int, status_fd: int) -> int:
    """Run one trial; returns the process exit code. Platform imports are already done."""
    status = os.fdopen(status_fd, "wb", buffering=0)
    control = os.fdopen(control_fd, "rb")

    def send(event: str, **fields: object) -> None:
        status.write(proto.encode(event, **fields))

    def fail(kind: str, message: str) -> int:
        send(proto.ERROR, kind=kind, message=message)
        return 1

    code_path = os.path.abspath(code)
    try:
        spec = importlib.util.spec_from_file_location("submission", code_path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["submission"] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - anything the participant's import raises
        traceback.print_exc()  # the full traceback goes to the run's log (organizers only)
        return fail(
            _kind(exc), "Importing your file failed.\n" + participant_traceback(exc, code_path)
        )
    unlearning = getattr(module, "unlearning", None)
    if not callable(unlearning):
        return fail(
            "crashed",
            "Your file defines no function `unlearning(net, retain_loader, forget_loader, val_loader)`.",
        )
    send(proto.READY)

    line = control.readline()
    if not line:
        return 1
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
        traceback.print_exc()
        return fail(_kind(exc), participant_traceback(exc, code_path))

    if isinstance(returned, torch.nn.Module):
        state = returned.state_dict()
    elif isinstance(returned, Mapping):
        state = returned
    else:
        return fail(
            "invalid_output",
            f"unlearning() must return the model (torch.nn.Module) or its state dict, got {type(returned).__name__}",
        )
    tensors = {}
    for key, value in state.items():
        if not isinstance(key, str) or not torch.is_tensor(value):
            return fail("invalid_output", f"the returned state dict has a non-tensor entry {key!r}")
        tensors[key] = value.detach().to("cpu").contiguous()
    if device.type == "cuda":
        torch.cuda.synchronize()
    try:
        save_file(tensors, output_path)
    except Exception as exc:  # noqa: BLE001 - e.g. tensors sharing memory
        return fail(
            "invalid_output", f"the returned weights could not be saved: {exc}"[:MESSAGE_LIMIT]
        )
    send(proto.DONE)
    return 0
