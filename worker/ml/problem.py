"""The hidden data of a competition: dataset and its deterministic split (docs/scoring.md §1).

Everything here is a pure function of the competition config, so preparation and scoring
rebuild the same splits without storing the data; the split indices are also written to the
competition's artefacts for audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.competition_config import CompetitionConfig, DatasetConfig
from core.datasets import kept_examples, load_builtin
from core.splits import Splits, make_splits

__all__ = ["Dataset", "Problem", "Splits", "Tensors", "build_problem", "make_splits"]


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray  # (n, *input_shape) float32
    y: np.ndarray  # (n,) int64
    n_classes: int
    groups: np.ndarray | None = None


@dataclass(frozen=True)
class Tensors:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Problem:
    """A competition's dataset cut into its five splits, as CPU tensors."""

    input_shape: tuple[int, ...]
    n_classes: int
    splits: Splits
    train: Tensors
    retain: Tensors
    forget: Tensors
    val: Tensors
    test: Tensors


def as_float_inputs(x: np.ndarray) -> np.ndarray:
    """uint8 images scale to [0, 1]; other numbers become float32 as they are."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    return x.astype(np.float32, copy=False)


def load_dataset(cfg: DatasetConfig, seed: int, data_file: Path | None = None) -> Dataset:
    groups = None
    if cfg.source == "upload":
        if data_file is None or not data_file.is_file():
            raise FileNotFoundError(
                "the competition's dataset has not been uploaded (PUT /competitions/{slug}/dataset)"
            )
        with np.load(data_file, allow_pickle=False) as d:
            x = as_float_inputs(d["x"])
            y = d["y"].astype(np.int64)
            groups = d["group"] if "group" in d.files else None
        n_classes = int(cfg.n_classes or 0)
    else:
        x, y, n_classes = load_builtin(cfg.loader or "")
    keep = kept_examples(len(y), cfg.max_examples, seed)
    if keep is not None:
        x, y = x[keep], y[keep]
        groups = groups[keep] if groups is not None else None
    return Dataset(x=x, y=y, n_classes=n_classes, groups=groups)


def build_problem(config: CompetitionConfig, data_file: Path | None = None) -> Problem:
    """The competition's problem; ``data_file`` is the uploaded dataset (source: upload)."""
    data = load_dataset(config.dataset, config.seed, data_file)
    splits = make_splits(len(data.y), config.split, config.seed, data.groups)

    def take(idx: np.ndarray) -> Tensors:
        return Tensors(torch.from_numpy(data.x[idx]), torch.from_numpy(data.y[idx]))

    return Problem(
        input_shape=tuple(int(d) for d in data.x.shape[1:]),
        n_classes=data.n_classes,
        splits=splits,
        train=take(splits.train),
        retain=take(splits.retain),
        forget=take(splits.forget),
        val=take(splits.val),
        test=take(splits.test),
    )
