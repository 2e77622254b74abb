"""Contrastive training of open_clip models on a split's pairs, with per-epoch checkpoints.

The losses are the plain open_clip recipe (``open_clip.ClipLoss``) and SimCLR, over
pre-tokenised captions and pre-normalised images held in memory, so a tiny model on two
CPU cores is not bottlenecked by data loading. The loop itself (AdamW, cosine schedule,
checkpoints, resume) is the harness's, :func:`mia_bench.training.train_loop`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from mia_bench.data import Samples
from mia_bench.training import train_loop

from .model import ImagePreprocessor
from .recipe import AUGMENTATIONS, Recipe


def augment_batch(x: torch.Tensor, kind: str, gen: torch.Generator) -> torch.Tensor:
    """Batched random resized crop (+flip, +colour) via one affine grid_sample."""
    if kind == "none":
        return x
    n = x.shape[0]
    lo = 0.5 if kind == "strong" else 0.75
    scale = lo + (1 - lo) * torch.rand(n, generator=gen)
    shift = (1 - scale)[:, None] * (2 * torch.rand(n, 2, generator=gen) - 1)
    sx = scale.clone()
    if kind in ("crop_flip", "strong"):
        sx = torch.where(torch.rand(n, generator=gen) < 0.5, -sx, sx)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = sx, scale
    theta[:, :, 2] = shift
    grid = torch.nn.functional.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    out = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if kind == "strong":  # brightness/contrast jitter in normalised space
        b = (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.8
        c = 0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=gen)
        out = out * c.to(x.device) + b.to(x.device)
    return out


def train_clip(model, tokenizer, samples: Samples, recipe: Recipe, seed: int, work_dir: Path,
               device: torch.device, meta: dict, progress: Callable[[int, int, float], None] | None = None) -> dict:
    """CLIP's image-text contrastive training (``open_clip.ClipLoss``) of ``model`` in place.

    Returns training facts (pairs/s, final loss). Resumes from ``work_dir/resume.pt``.
    """
    import open_clip

    loss_fn = open_clip.ClipLoss()

    def step(x: torch.Tensor, tokens: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        out = model(augment_batch(x, recipe.augment, gen).to(device), tokens.to(device))
        return loss_fn(out["image_features"], out["text_features"], out["logit_scale"])

    return _train_loop(model, tokenizer, samples, recipe, seed, work_dir, device, meta, progress, step)


SIMCLR_TEMPERATURE = 0.1


def train_simclr(model, tokenizer, samples: Samples, recipe: Recipe, seed: int, work_dir: Path,
                 device: torch.device, meta: dict, progress: Callable[[int, int, float], None] | None = None) -> dict:
    """SimCLR-style image-only contrastive training of the image tower (captions unused).

    Two "strong" views (crop, flip, colour) of each image; NT-Xent loss at temperature
    0.1 over the 2B views of a batch (Chen et al. 2020), on the tower's normalised output
    (the CLIP projection plays SimCLR's projection head). EncoderMI's "training algorithm
    unknown" settings train shadow encoders this way. The text tower keeps its random init.
    """
    import torch.nn.functional as F

    def step(x: torch.Tensor, tokens: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        views = torch.cat([augment_batch(x, "strong", gen), augment_batch(x, "strong", gen)]).to(device)
        z = model.encode_image(views, normalize=True)
        sim = z @ z.T / SIMCLR_TEMPERATURE
        n = x.shape[0]
        sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=device), float("-inf"))
        positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(device)
        return F.cross_entropy(sim, positives)

    return _train_loop(model, tokenizer, samples, recipe, seed, work_dir, device, meta, progress, step)


def _train_loop(model, tokenizer, samples, recipe, seed, work_dir, device, meta, progress, step) -> dict:
    """Hold the images (normalised) and tokens in memory and run the harness's loop over them.

    ``step(images, tokens, generator) -> loss`` is the algorithm's loss on one batch.
    """
    import open_clip

    if recipe.augment not in AUGMENTATIONS:
        raise ValueError(f"unknown augment {recipe.augment!r}; valid: {', '.join(AUGMENTATIONS)}")
    visual = model.visual
    size = visual.image_size if isinstance(visual.image_size, int) else visual.image_size[0]
    pre = ImagePreprocessor(size, visual.image_mean or open_clip.OPENAI_DATASET_MEAN,
                            visual.image_std or open_clip.OPENAI_DATASET_STD)
    images = pre(samples.images, torch.device("cpu"))
    tokens = tokenizer(list(samples.texts))
    return train_loop(model, len(samples), recipe, seed, work_dir, device, meta,
                      lambda idx, gen: step(images[idx], tokens[idx], gen), progress)


# Training algorithms by name: shadow models may use another algorithm than the target's
# (EncoderMI's "training algorithm unknown" settings). Each has train_clip's signature.
TRAINERS: dict[str, Callable] = {"clip": train_clip, "simclr": train_simclr}
