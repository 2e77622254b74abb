"""Batched, seeded image augmentations for attacks (CSA-aug, EncoderMI).

All views of all images are made in one vectorised pass (one affine ``grid_sample``
for crop+flip, then per-view colour ops), from a numpy ``Generator``, so results are
deterministic under a seed and the global RNG is untouched.
"""

from __future__ import annotations

import numpy as np

IMAGE_OPS = ("crop", "flip", "color", "grayscale")


def check_ops(ops: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    bad = [o for o in ops if o not in IMAGE_OPS]
    if bad:
        raise ValueError(f"unknown augmentation {bad}; valid: {', '.join(IMAGE_OPS)}")
    return tuple(ops)


def augment_images(
    images: np.ndarray,
    n_views: int,
    rng: np.random.Generator,
    ops: tuple[str, ...] = IMAGE_OPS,
    crop_scale: tuple[float, float] = (0.5, 1.0),
) -> np.ndarray:
    """``(N, H, W, 3) uint8 -> (N, n_views, H, W, 3) uint8`` random views of each image.

    ops: ``crop`` (random resized crop, area fraction in ``crop_scale``), ``flip``
    (horizontal, p=0.5), ``color`` (brightness/contrast/saturation jitter 0.4, p=0.8),
    ``grayscale`` (p=0.2): the SimCLR/EncoderMI list.
    """
    import torch
    import torch.nn.functional as F

    check_ops(ops)
    n, h, w, _ = images.shape
    m = n * n_views
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
    x = x.repeat_interleave(n_views, dim=0)
    theta = np.zeros((m, 2, 3), np.float32)
    side = np.sqrt(rng.uniform(*crop_scale, m)) if "crop" in ops else np.ones(m)
    theta[:, 0, 0] = side * (np.where(rng.random(m) < 0.5, -1, 1) if "flip" in ops else 1)
    theta[:, 1, 1] = side
    theta[:, :, 2] = (1 - side)[:, None] * rng.uniform(-1, 1, (m, 2))
    grid = F.affine_grid(torch.from_numpy(theta), [m, 3, h, w], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if "color" in ops:
        x = _color_jitter(x, rng, strength=0.4, p=0.8)
    if "grayscale" in ops:
        gray = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        pick = torch.from_numpy(rng.random(m) < 0.2).view(m, 1, 1, 1)
        x = torch.where(pick, gray.expand_as(x), x)
    out = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out.reshape(n, n_views, h, w, 3)


def _color_jitter(x, rng: np.random.Generator, strength: float, p: float):
    import torch

    m = x.shape[0]
    on = torch.from_numpy((rng.random(m) < p).astype(np.float32)).view(m, 1, 1, 1)

    def factor() -> "torch.Tensor":
        f = rng.uniform(1 - strength, 1 + strength, m).astype(np.float32)
        return 1 + (torch.from_numpy(f).view(m, 1, 1, 1) - 1) * on

    x = x * factor()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * factor() + mean
    gray = x.mean(dim=1, keepdim=True)
    return (x - gray) * factor() + gray
