"""Batched, seeded image augmentations for attacks (CSA-aug, EncoderMI).

All views of all images are made in one vectorised pass (one affine ``grid_sample``
for crop+flip, then per-view colour ops). Each image's random parameters come from its
own generator (``seeds[i]``), so an image's views do not depend on which other images
share the batch or their order, and the global RNG is untouched.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

IMAGE_OPS = ("crop", "flip", "color", "grayscale")


def check_ops(ops: Sequence[str], valid: Sequence[str] = IMAGE_OPS, kind: str = "augmentation") -> tuple[str, ...]:
    bad = [o for o in ops if o not in valid]
    if bad:
        raise ValueError(f"unknown {kind} {bad}; valid: {', '.join(valid)}")
    return tuple(ops)


def _draw(seeds: Sequence[int], n_views: int, crop_scale: tuple[float, float]) -> dict[str, np.ndarray]:
    """Per-view random parameters, (N * n_views, ...) arrays, image i from generator seeds[i]."""
    parts: dict[str, list] = {k: [] for k in ("area", "flip", "shift", "color", "factors", "gray")}
    for seed in seeds:
        g = np.random.default_rng(seed)
        parts["area"].append(g.uniform(*crop_scale, n_views))
        parts["flip"].append(g.random(n_views) < 0.5)
        parts["shift"].append(g.uniform(-1, 1, (n_views, 2)))
        parts["color"].append(g.random(n_views) < 0.8)
        parts["factors"].append(g.uniform(0.6, 1.4, (n_views, 3)))
        parts["gray"].append(g.random(n_views) < 0.2)
    return {k: np.concatenate(v) for k, v in parts.items()}


def augment_images(
    images: np.ndarray,
    n_views: int,
    seeds: Sequence[int],
    ops: Sequence[str] = IMAGE_OPS,
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
    if len(seeds) != n:
        raise ValueError(f"augment_images needs one seed per image: got {len(seeds)} seeds for {n} images")
    m = n * n_views
    p = _draw(seeds, n_views, crop_scale)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255).repeat_interleave(n_views, dim=0)
    side = np.sqrt(p["area"]) if "crop" in ops else np.ones(m)
    theta = np.zeros((m, 2, 3), np.float32)
    theta[:, 0, 0] = side * (np.where(p["flip"], -1, 1) if "flip" in ops else 1)
    theta[:, 1, 1] = side
    theta[:, :, 2] = (1 - side)[:, None] * p["shift"]
    grid = F.affine_grid(torch.from_numpy(theta), [m, 3, h, w], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if "color" in ops:
        x = _color_jitter(x, p["factors"], p["color"])
    if "grayscale" in ops:
        gray = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        x = torch.where(torch.from_numpy(p["gray"]).view(m, 1, 1, 1), gray.expand_as(x), x)
    out = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out.reshape(n, n_views, h, w, 3)


def _color_jitter(x, factors: np.ndarray, on: np.ndarray):
    """Brightness, contrast, saturation scaled by ``factors`` (M, 3) where ``on`` (M,)."""
    import torch

    m = x.shape[0]
    f = torch.from_numpy(np.where(on[:, None], factors, 1.0).astype(np.float32))
    x = x * f[:, 0].view(m, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * f[:, 1].view(m, 1, 1, 1) + mean
    gray = x.mean(dim=1, keepdim=True)
    return (x - gray) * f[:, 2].view(m, 1, 1, 1) + gray


def row_seeds(ids: Sequence[str], seed: int) -> list[int]:
    """One seed per row, from the run seed and the row's id (order-independent)."""
    import hashlib

    return [int.from_bytes(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:8], "little") for i in ids]


AUDIO_OPS = ("shift", "gain", "noise", "speed")


def check_audio_ops(ops: Sequence[str]) -> tuple[str, ...]:
    return check_ops(ops, AUDIO_OPS, "audio augmentation")


def augment_audio(audio: np.ndarray, n_views: int, seeds: Sequence[int], ops: Sequence[str] = AUDIO_OPS,
                  max_shift: float = 0.1, gain_db: float = 6.0, snr_db: tuple[float, float] = (20.0, 40.0),
                  speed: tuple[float, float] = (0.9, 1.1)) -> np.ndarray:
    """``(N, T) float32 -> (N, n_views, T) float32`` random views of each clip, in one pass.

    ops: ``shift`` (circular time shift up to ``max_shift`` of the clip), ``gain`` (uniform
    in +-``gain_db`` dB), ``noise`` (white noise at an SNR uniform in ``snr_db``), ``speed``
    (resampled by a factor uniform in ``speed``, cut or zero-padded to T). Clip i's
    parameters come from generator ``seeds[i]``, as for images.
    """
    check_audio_ops(ops)
    n, t = audio.shape
    if len(seeds) != n:
        raise ValueError(f"augment_audio needs one seed per clip: got {len(seeds)} seeds for {n} clips")
    draws, noise = [], []
    for seed in seeds:
        g = np.random.default_rng(seed)
        draws.append(np.stack([g.uniform(-max_shift, max_shift, n_views), g.uniform(-gain_db, gain_db, n_views),
                               g.uniform(*snr_db, n_views), g.uniform(*speed, n_views)], 1))
        if "noise" in ops:
            noise.append(g.standard_normal((n_views, t), dtype=np.float32))
    p = np.concatenate(draws)  # (N * n_views, 4)
    x = np.repeat(audio.astype(np.float32), n_views, axis=0)
    grid = np.arange(t, dtype=np.float64)[None, :]
    if "speed" in ops:  # linear-interpolation resampling; positions past the end read as silence
        pos = grid * p[:, 3:4]
        lo = np.floor(pos).astype(np.int64)
        frac = (pos - lo).astype(np.float32)
        valid = lo + 1 < t
        lo = np.minimum(lo, t - 2)
        a = np.take_along_axis(x, lo, 1)
        b = np.take_along_axis(x, lo + 1, 1)
        x = np.where(valid, a * (1 - frac) + b * frac, 0.0).astype(np.float32)
    if "shift" in ops:
        idx = (grid.astype(np.int64) - np.round(p[:, 0:1] * t).astype(np.int64)) % t
        x = np.take_along_axis(x, idx, 1)
    if "gain" in ops:
        x = x * (10 ** (p[:, 1:2] / 20)).astype(np.float32)
    if "noise" in ops:
        power = np.mean(x**2, axis=1, keepdims=True) + 1e-12
        sigma = np.sqrt(power / 10 ** (p[:, 2:3] / 10)).astype(np.float32)
        x = x + sigma * np.concatenate(noise)
    return np.clip(x, -1, 1).reshape(n, n_views, t)


def default_ops(modality: str) -> tuple[str, ...]:
    """The augmentations an attack uses when it names none: the modality's full list."""
    return IMAGE_OPS if modality == "image" else AUDIO_OPS


def check_view_ops(ops: Sequence[str], modality: str) -> tuple[str, ...]:
    return check_ops(ops) if modality == "image" else check_audio_ops(ops)


def make_views(media: np.ndarray, n_views: int, seeds: Sequence[int], ops: Sequence[str], modality: str) -> np.ndarray:
    """``(N, ...) -> (N, n_views, ...)`` augmented views of images or audio clips."""
    if modality == "image":
        return augment_images(media, n_views, seeds, ops)
    if modality == "audio":
        return augment_audio(media, n_views, seeds, ops)
    raise ValueError(f"augmented views need images or audio; got modality {modality!r}")
