"""A competition's prepared artefacts: original weights, split indices, reference outputs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.torch import load_file, save_file
from torch import nn

from worker.ml.problem import Splits
from worker.ml.training import ModelOutputs

ORIGINAL = "original.safetensors"
SPLITS = "splits.npz"
REFERENCES = "references.npz"
ORIGINAL_OUTPUTS = "original_outputs.npz"
RUNTIME_LOCK = "runtime.json"  # the runtime's resolved packages (worker/runtime.py)


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def save_weights(model: nn.Module, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    os.replace(tmp, path)


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    model.load_state_dict(load_file(str(path)), strict=True)
    return model


def save_splits(splits: Splits, path: Path) -> None:
    _atomic_savez(
        path, **{k: getattr(splits, k) for k in ("train", "retain", "forget", "val", "test")}
    )


@dataclass(frozen=True)
class OutputsStack:
    """Per-model outputs stacked over models (axis 0)."""

    forget_logits: np.ndarray  # (M, n_forget, C)
    forget_loss: np.ndarray  # (M, n_forget)
    test_loss: np.ndarray  # (M, n_test)
    retain_acc: np.ndarray  # (M,)
    forget_acc: np.ndarray
    test_acc: np.ndarray
    forget_class_softmax: np.ndarray  # (M, C, C)
    test_class_softmax: np.ndarray  # (M, C, C)

    def __len__(self) -> int:
        return int(self.retain_acc.shape[0])

    def head(self, n: int) -> OutputsStack:
        return OutputsStack(*(getattr(self, f)[:n] for f in _FIELDS))

    def take(self, idx: np.ndarray) -> OutputsStack:
        return OutputsStack(*(getattr(self, f)[idx] for f in _FIELDS))


_FIELDS = (
    "forget_logits",
    "forget_loss",
    "test_loss",
    "retain_acc",
    "forget_acc",
    "test_acc",
    "forget_class_softmax",
    "test_class_softmax",
)


def stack_outputs(outputs: list[ModelOutputs]) -> OutputsStack:
    return OutputsStack(*(np.stack([np.asarray(getattr(o, f)) for o in outputs]) for f in _FIELDS))


def save_outputs(outputs: ModelOutputs | OutputsStack, path: Path) -> None:
    _atomic_savez(path, **{f: np.asarray(getattr(outputs, f)) for f in _FIELDS})


def load_outputs(path: Path) -> ModelOutputs:
    with np.load(path) as d:
        return ModelOutputs(
            forget_logits=d["forget_logits"],
            forget_loss=d["forget_loss"],
            test_loss=d["test_loss"],
            retain_acc=float(d["retain_acc"]),
            forget_acc=float(d["forget_acc"]),
            test_acc=float(d["test_acc"]),
            forget_class_softmax=d["forget_class_softmax"],
            test_class_softmax=d["test_class_softmax"],
        )


def load_stack(path: Path) -> OutputsStack:
    with np.load(path) as d:
        return OutputsStack(*(d[f] for f in _FIELDS))
