"""Hidden datasets: the built-in ones, and validation of an organizer's uploaded ``.npz``.

An upload is streamed to disk (never held whole in memory), hashed, and checked before it
replaces the competition's data: ``x`` (float or uint8, one row per example), ``y`` (integer
labels below ``dataset.n_classes``), optionally ``group`` (integer ids, e.g. people); same
length; no NaN or infinity; no pickled objects; no zip bomb. The organizer gets back the
class balance and the split sizes. The file itself is never served to anyone.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from core.competition_config import CompetitionConfig
from core.errors import Invalid, TooLarge
from core.splits import SplitError, make_splits

CHUNK = 1 << 20
ALLOWED_MEMBERS = {"x.npy", "y.npy", "group.npy"}
MIN_EXAMPLES = 20


def load_builtin(loader: str) -> tuple[np.ndarray, np.ndarray, int]:
    """A built-in dataset as (x float32, y int64, number of classes)."""
    if loader in ("sklearn_digits", "sklearn_digits_image"):
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = (digits.data / 16.0).astype(np.float32)
        if loader == "sklearn_digits_image":
            x = x.reshape(-1, 1, 8, 8)
        return x, digits.target.astype(np.int64), 10
    raise ValueError(f"unknown dataset loader {loader!r}")


def kept_examples(n: int, max_examples: int | None, seed: int) -> np.ndarray | None:
    """Indices of the examples a competition uses (``dataset.max_examples`` of a fixed shuffle
    from the seed), or None for all. The worker and the upload summary both use this."""
    if max_examples is None or max_examples >= n:
        return None
    return np.sort(np.random.default_rng(seed).permutation(n)[:max_examples])


def stream_to_file(source: BinaryIO, dest: Path, max_bytes: int) -> tuple[str, int]:
    """Copy ``source`` to ``dest`` in chunks; 413 (and nothing left behind) past ``max_bytes``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    try:
        with open(dest, "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(
                        f"The dataset is larger than the limit of {max_bytes:,} bytes "
                        "(ARENA_MAX_DATASET_BYTES); subsample it or raise the limit.",
                    )
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size


def _finite(x: np.ndarray) -> bool:
    if not np.issubdtype(x.dtype, np.floating):
        return True
    step = max(1, (64 << 20) // max(1, x[0].nbytes if len(x) else 1))
    return all(np.isfinite(x[i : i + step]).all() for i in range(0, len(x), step))


NOT_USABLE = "The dataset is not usable: "


def inspect_npz(path: Path, cfg: CompetitionConfig, max_bytes: int) -> dict[str, Any]:
    """Validate an uploaded dataset against the competition config; return its summary.

    Raises Invalid listing every problem found.
    """
    _check_archive(path, max_bytes)
    x, y, groups = _load_arrays(path)
    n_classes = int(cfg.dataset.n_classes or 0)
    problems = _array_problems(x, y, groups, n_classes, cfg)
    if problems:
        raise Invalid(NOT_USABLE + "; ".join(problems))
    return summarize(x, y, groups, n_classes, cfg)


def _check_archive(path: Path, max_bytes: int) -> None:
    """An .npz (a zip) with x and y, nothing else, and no zip bomb."""
    if not zipfile.is_zipfile(path):
        raise Invalid(
            NOT_USABLE
            + "it is not an .npz file. Write it with numpy.savez(path, x=..., y=..., group=...).",
        )
    with zipfile.ZipFile(path) as zf:
        names = {i.filename for i in zf.infolist()}
        expanded = sum(i.file_size for i in zf.infolist())
    problems = []
    unknown = sorted(names - ALLOWED_MEMBERS)
    if unknown:
        problems.append(f"unexpected arrays {unknown} (allowed: x, y, group)")
    for need in ("x.npy", "y.npy"):
        if need not in names:
            problems.append(f"the array {need[:-4]!r} is missing")
    if expanded > 4 * max_bytes:
        problems.append(f"it expands to {expanded:,} bytes, more than 4x the upload limit")
    if problems:
        raise Invalid(NOT_USABLE + "; ".join(problems))


def _load_arrays(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as d:
            x, y = d["x"], d["y"]
            groups = d["group"] if "group" in d.files else None
    except ValueError as exc:
        raise Invalid(NOT_USABLE + f"{exc} (object arrays are not allowed)") from None
    except Exception as exc:  # a corrupt member
        raise Invalid(
            NOT_USABLE + f"numpy could not read it ({type(exc).__name__}: {exc})"
        ) from None

    return x, y, groups


def _array_problems(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, n_classes: int, cfg: CompetitionConfig
) -> list[str]:
    """Every problem of the arrays against the config, in one list."""
    problems: list[str] = []
    if not (np.issubdtype(x.dtype, np.floating) or x.dtype == np.uint8):
        problems.append(f"x has dtype {x.dtype}; use float32 (or uint8 images)")
    if x.ndim < 2:
        problems.append(f"x has shape {x.shape}; it needs one row per example, e.g. (n, features)")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        problems.append(
            f"y must be a 1-D integer array of labels, not {y.dtype} of shape {y.shape}"
        )
    elif len(y) and (y.min() < 0 or y.max() >= n_classes):
        problems.append(
            f"labels must lie in 0..{n_classes - 1} (dataset.n_classes = {n_classes}); "
            f"found {int(y.min())}..{int(y.max())}"
        )
    if x.ndim >= 1 and y.ndim == 1 and len(x) != len(y):
        problems.append(f"x has {len(x)} rows but y has {len(y)} labels")
    if len(y) < MIN_EXAMPLES:
        problems.append(f"only {len(y)} examples; at least {MIN_EXAMPLES} are needed")
    if groups is not None and (
        groups.ndim != 1 or not np.issubdtype(groups.dtype, np.integer) or len(groups) != len(y)
    ):
        problems.append("group must be a 1-D integer array with one id per example")
    if not problems and not _finite(x):
        problems.append("x contains NaN or infinite values")
    if cfg.model.name in ("cnn", "resnet18") and x.ndim != 4:
        problems.append(
            f"model {cfg.model.name} needs images of shape (n, channels, height, width); x is {x.shape}"
        )
    return problems


def summarize(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, n_classes: int, cfg: CompetitionConfig
) -> dict[str, Any]:
    keep = kept_examples(len(y), cfg.dataset.max_examples, cfg.seed)
    if keep is not None:
        x, y = x[keep], y[keep]
        groups = groups[keep] if groups is not None else None
    summary: dict[str, Any] = {
        "n_examples": int(len(y)),
        "input_shape": [int(d) for d in x.shape[1:]],
        "dtype": str(x.dtype),
        "n_classes": n_classes,
        "class_counts": np.bincount(y, minlength=n_classes).astype(int).tolist(),
        "n_groups": int(len(np.unique(groups))) if groups is not None else None,
    }
    try:
        splits = make_splits(len(y), cfg.split, cfg.seed, groups)
    except SplitError as exc:
        raise Invalid(f"The dataset does not fit the split: {exc}.") from None
    summary["split_sizes"] = splits.sizes()
    summary["forget_class_counts"] = (
        np.bincount(y[splits.forget], minlength=n_classes).astype(int).tolist()
    )
    return summary


def builtin_summary(cfg: CompetitionConfig) -> dict[str, Any]:
    x, y, n_classes = load_builtin(cfg.dataset.loader or "")
    return {"loader": cfg.dataset.loader, **summarize(x, y, None, n_classes, cfg)}
