"""Make digits32's data from scikit-learn's bundled digits: ``python make_dataset.py OUT.npz``.

Each 8x8 digit is upscaled to 32x32 and drawn by one of many synthetic "writers": a writer
shifts, thickens and darkens every digit it draws in its own way, and its id is the image's
``group``, so that forgetting a writer means forgetting all of their images (as forgetting a
person did in 2023). 1,500 images make the hidden dataset (OUT.npz, uploaded with `arena
competition dataset`); the other 297, by other writers, make the public dev split (dev.npz,
written next to this file with --dev).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

N_HIDDEN = 1500


def draw(images: np.ndarray, writers: np.ndarray, seed: int) -> np.ndarray:
    """(n, 8, 8) in [0, 16] -> (n, 1, 32, 32) uint8, in each writer's style."""
    rng = np.random.default_rng(seed)
    styles = {
        w: (rng.integers(-3, 4, 2), rng.integers(0, 2), rng.uniform(0.7, 1.0))
        for w in np.unique(writers)
    }
    out = np.zeros((len(images), 1, 32, 32), np.uint8)
    for i, (img, w) in enumerate(zip(images, writers, strict=True)):
        (dy, dx), thick, ink = styles[w]
        big = np.kron(img / 16.0, np.ones((4, 4)))  # 32x32
        if thick:
            big = np.maximum(big, np.roll(big, 1, axis=1))
        big = np.roll(np.roll(big, dy, axis=0), dx, axis=1)
        out[i, 0] = np.clip(big * ink * 255, 0, 255).astype(np.uint8)
    return out


def make(seed: int = 32) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    hidden, dev = order[:N_HIDDEN], order[N_HIDDEN:]
    hidden_writers = np.random.default_rng(seed + 1).integers(0, 60, len(hidden))
    dev_writers = 1000 + np.random.default_rng(seed + 2).integers(0, 12, len(dev))
    x = draw(digits.images[hidden], hidden_writers, seed + 3)
    x_dev = draw(digits.images[dev], dev_writers, seed + 4)
    return (
        {"x": x, "y": digits.target[hidden].astype(np.int64), "group": hidden_writers},
        {"x": x_dev, "y": digits.target[dev].astype(np.int64), "group": dev_writers},
    )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python make_dataset.py OUT.npz [--dev]")
    hidden, dev = make()
    np.savez_compressed(sys.argv[1], **hidden)
    print(f"{sys.argv[1]}: {len(hidden['y'])} images of {len(np.unique(hidden['group']))} writers")
    if "--dev" in sys.argv:
        path = Path(__file__).with_name("dev.npz")
        np.savez_compressed(path, **dev)
        print(f"{path}: {len(dev['y'])} images of {len(np.unique(dev['group']))} writers")
