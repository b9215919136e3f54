"""Check an organizer's model module: ``python -I -m worker.ml.model_check /check/check.json``.

Run jailed (:func:`core.jailed.run_python_module`) by the API when a competition is created or
updated or its dataset uploaded, and by ``arena competition validate`` offline. It builds the
model as the worker will (:func:`worker.ml.nets.build_model`), twice under one seed (the same
weights, or the references could not be reproduced), runs a forward and a backward pass on a
batch of the dataset's shape, and round-trips the state dict through safetensors, as returned
weights are. The last line of stdout is one JSON object: ``problems`` (each says what to fix)
and, when it built, ``parameters`` and ``batchnorm``.

A module that imports a package of the competition's runtime (``runtime_packages`` in the
spec) cannot be built where the runtime is not installed: the report then says ``deferred``,
and the worker runs the same check (:func:`check`) with the runtime when it prepares.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

CHECK_FILE = "check.json"


def check(spec: dict[str, Any], batch: int = 2) -> dict[str, Any]:
    import torch
    from safetensors.torch import load_file, save_file

    from worker.ml.nets import MissingModule, ModelBuildError, build_model

    try:
        torch.manual_seed(0)
        model = build_model(spec)
        torch.manual_seed(0)
        again = build_model(spec)
    except MissingModule as exc:
        if not spec.get("runtime_packages"):
            return {"problems": [str(exc)]}
        return {
            "problems": [],
            "deferred": f"{spec.get('module')} imports {exc.name!r}, which the platform does not "
            "have: it is checked with the competition's runtime when the competition is prepared",
        }
    except ModelBuildError as exc:
        return {"problems": [str(exc)]}
    problems: list[str] = []
    state = model.state_dict()
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if n_params == 0:
        problems.append("the model has no trainable parameters")
    if any(not torch.equal(t, again.state_dict()[k]) for k, t in state.items()):
        problems.append(
            "two builds under the same seed give different weights: draw every random number "
            "from torch (torch.manual_seed seeds the references), not from random or numpy"
        )
    shape = spec.get("input_shape")
    if shape:
        problems += _forward(model, [int(d) for d in shape], int(spec["n_classes"]), batch)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "weights.safetensors")
        try:
            save_file({k: v.detach().contiguous() for k, v in state.items()}, path)
            again.load_state_dict(load_file(path), strict=True)
        except Exception as exc:  # noqa: BLE001 - e.g. tensors sharing memory, non-tensor state
            problems.append(
                f"its state dict does not round-trip through safetensors ({type(exc).__name__}: "
                f"{str(exc)[:300]}); returned weights are stored that way"
            )
    batchnorm = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    return {"problems": problems, "parameters": n_params, "batchnorm": batchnorm}


def _forward(model: Any, shape: list[int], n_classes: int, batch: int) -> list[str]:
    import torch

    x = torch.rand(batch, *shape, generator=torch.Generator().manual_seed(0))
    try:
        model.train()
        out = model(x)
        if not isinstance(out, torch.Tensor):
            return [f"forward() returned {type(out).__name__}: return one tensor of logits"]
        if tuple(out.shape) != (batch, n_classes):
            return [
                f"on a batch of shape {tuple(x.shape)} forward() returned shape "
                f"{tuple(out.shape)}; it must return ({batch}, {n_classes}): one logit per class "
                f"(n_classes = {n_classes})"
            ]
        torch.nn.functional.cross_entropy(out, torch.zeros(batch, dtype=torch.long)).backward()
        model.eval()
        with torch.no_grad():
            model(x)
    except Exception as exc:  # noqa: BLE001 - the organizer's forward, any error
        return [
            f"forward() fails on a batch of shape {tuple(x.shape)} (the dataset's examples are "
            f"{tuple(shape)}): {type(exc).__name__}: {str(exc)[:300]}"
        ]
    return []


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    try:
        report = check(spec["model"], int(spec.get("batch", 2)))
    except Exception as exc:  # noqa: BLE001 - an unexpected failure is reported, not raised
        report = {"problems": [f"the check failed: {type(exc).__name__}: {str(exc)[:300]}"]}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
