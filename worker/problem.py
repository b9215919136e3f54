"""The hidden data of a competition: dataset and its deterministic split (SCORING.md §1).

Everything here is a pure function of the competition config, so preparation and scoring
rebuild the same splits without storing the data; the split indices are also written to the
competition's artefacts for audit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from server.competition_config import CompetitionConfig, DatasetConfig, SplitConfig


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray  # (n, n_features) float32
    y: np.ndarray  # (n,) int64
    n_classes: int


@dataclass(frozen=True)
class Splits:
    """Indices into the dataset. train = retain ∪ forget."""

    train: np.ndarray
    retain: np.ndarray
    forget: np.ndarray
    val: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class Tensors:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Problem:
    """A competition's dataset cut into its five splits, as CPU tensors."""

    n_features: int
    n_classes: int
    splits: Splits
    train: Tensors
    retain: Tensors
    forget: Tensors
    val: Tensors
    test: Tensors


def load_dataset(cfg: DatasetConfig, seed: int) -> Dataset:
    if cfg.loader == "sklearn_digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = (digits.data / 16.0).astype(np.float32)
        y = digits.target.astype(np.int64)
        n_classes = 10
    else:  # pragma: no cover - the config's Literal rules this out
        raise ValueError(f"unknown dataset loader {cfg.loader!r}")
    if cfg.max_examples is not None and cfg.max_examples < len(y):
        keep = np.sort(np.random.default_rng(seed).permutation(len(y))[: cfg.max_examples])
        x, y = x[keep], y[keep]
    return Dataset(x=x, y=y, n_classes=n_classes)


def make_splits(n_examples: int, cfg: SplitConfig, seed: int) -> Splits:
    """Split ``n_examples`` into train/val/test and train into forget/retain, from ``seed``."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_examples)
    n_test = max(1, round(n_examples * cfg.test_fraction))
    n_val = max(1, round(n_examples * cfg.val_fraction))
    test = np.sort(perm[:n_test])
    val = np.sort(perm[n_test : n_test + n_val])
    train = np.sort(perm[n_test + n_val :])
    if cfg.forget_size > len(train) - 2:
        raise ValueError(
            f"split.forget_size = {cfg.forget_size} is too large: the train split has only "
            f"{len(train)} examples; choose at most {len(train) - 2}"
        )
    forget = np.sort(rng.choice(train, size=cfg.forget_size, replace=False))
    retain = np.setdiff1d(train, forget)
    return Splits(train=train, retain=retain, forget=forget, val=val, test=test)


def build_problem(config: CompetitionConfig) -> Problem:
    data = load_dataset(config.dataset, config.seed)
    splits = make_splits(len(data.y), config.split, config.seed)

    def take(idx: np.ndarray) -> Tensors:
        return Tensors(torch.from_numpy(data.x[idx]), torch.from_numpy(data.y[idx]))

    return Problem(
        n_features=int(data.x.shape[1]),
        n_classes=data.n_classes,
        splits=splits,
        train=take(splits.train),
        retain=take(splits.retain),
        forget=take(splits.forget),
        val=take(splits.val),
        test=take(splits.test),
    )
