"""The deterministic split of a hidden dataset (docs/scoring.md §1), in numpy only.

train/validation/test from the competition seed, then forget/retain inside train: a random
sample of ``forget_size`` examples, or every train example of ``forget_groups`` groups. The
server uses it to report split sizes at dataset upload; the worker to build the problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.competition_config import SplitConfig


class SplitError(ValueError):
    """The split cannot be made from this dataset (the message says which setting to change)."""


@dataclass(frozen=True)
class Splits:
    """Indices into the dataset. train = retain ∪ forget."""

    train: np.ndarray
    retain: np.ndarray
    forget: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {k: int(len(getattr(self, k))) for k in ("train", "retain", "forget", "val", "test")}


def make_splits(
    n_examples: int, cfg: SplitConfig, seed: int, groups: np.ndarray | None = None
) -> Splits:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_examples)
    n_test = max(1, round(n_examples * cfg.test_fraction))
    n_val = max(1, round(n_examples * cfg.val_fraction))
    test = np.sort(perm[:n_test])
    val = np.sort(perm[n_test : n_test + n_val])
    train = np.sort(perm[n_test + n_val :])
    if cfg.forget_groups is not None:
        if groups is None:
            raise SplitError(
                "split.forget_groups needs a dataset with a `group` array; upload one or use forget_size"
            )
        train_groups = np.unique(groups[train])
        if cfg.forget_groups >= len(train_groups):
            raise SplitError(
                f"split.forget_groups = {cfg.forget_groups} is too large: the train split holds "
                f"{len(train_groups)} groups; choose at most {len(train_groups) - 1}"
            )
        chosen = rng.choice(train_groups, size=cfg.forget_groups, replace=False)
        forget = train[np.isin(groups[train], chosen)]
    else:
        size = int(cfg.forget_size or 0)
        if size > len(train) - 2:
            raise SplitError(
                f"split.forget_size = {size} is too large: the train split has only "
                f"{len(train)} examples; choose at most {len(train) - 2}"
            )
        forget = np.sort(rng.choice(train, size=size, replace=False))
    retain = np.setdiff1d(train, forget)
    if len(forget) < 2 or len(retain) < 2:
        raise SplitError("the split leaves fewer than 2 forget or retain examples; change split")
    return Splits(train=train, retain=retain, forget=forget, val=val, test=test)


def public_mask(n_forget: int, public_fraction: float, seed: int) -> np.ndarray:
    """Which forget examples the public leaderboard scores (the rest are private).

    A fixed partition from the competition seed; at least one example on each side.
    """
    n_public = min(max(1, round(n_forget * public_fraction)), max(1, n_forget - 1))
    order = np.random.default_rng([seed, 0x9B1C]).permutation(n_forget)
    mask = np.zeros(n_forget, dtype=bool)
    mask[order[:n_public]] = True
    return mask
