"""Image augmentation while training the original and the references (recipe.augment).

The random draws (flips, crop offsets) come from the training's own CPU generator, so a seed
gives the same augmented batches on a CPU and on a CUDA worker; the crops themselves are one
gather on the batch's device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.model_config import AugmentConfig


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """``x`` (batch, channels, height, width), flipped and cropped per example."""
    if not cfg.active:
        return x
    if x.dim() != 4:
        raise ValueError(
            "recipe.augment needs image inputs (channels, height, width); the data have shape "
            f"{tuple(x.shape[1:])}: remove recipe.augment or upload images"
        )
    b, c, h, w = x.shape
    if cfg.horizontal_flip:
        flip = (torch.rand(b, generator=gen) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if cfg.crop_padding:
        p = cfg.crop_padding
        padded = F.pad(x, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (b,), generator=gen)
        dx = torch.randint(0, 2 * p + 1, (b,), generator=gen)
        rows = (dy[:, None] + torch.arange(h)).to(x.device)
        cols = (dx[:, None] + torch.arange(w)).to(x.device)
        batch = torch.arange(b, device=x.device)[:, None, None, None]
        chan = torch.arange(c, device=x.device)[None, :, None, None]
        x = padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]
    return x
