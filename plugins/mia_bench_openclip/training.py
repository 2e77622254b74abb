"""Contrastive training of open_clip models on a split's pairs, with per-epoch checkpoints.

The loop is the plain open_clip recipe (``open_clip.ClipLoss``, AdamW, cosine schedule
with warm-up) over pre-tokenised captions and pre-normalised images held in memory, so
a tiny model on two CPU cores is not bottlenecked by data loading. Checkpoints are
written every ``checkpoint_every`` epochs (and at the last) so early stopping can release
an earlier epoch without retraining; ``resume.pt`` (weights + optimiser) is rewritten
after every epoch so a killed training resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Callable

import torch
from mia_bench.data import Samples

from .model import ImagePreprocessor
from .recipe import AUGMENTATIONS, Recipe, checkpoint_epochs


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


def _lr_at(step: int, total: int, recipe: Recipe) -> float:
    if step < recipe.warmup_steps:
        return recipe.lr * (step + 1) / recipe.warmup_steps
    progress = (step - recipe.warmup_steps) / max(1, total - recipe.warmup_steps)
    return 0.5 * recipe.lr * (1 + math.cos(math.pi * progress))


def _save(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


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
    """The shared loop: AdamW, cosine schedule with warm-up, checkpoints, resume.

    ``step(images, tokens, generator) -> loss`` is the algorithm's loss on one batch.
    """
    import open_clip
    import time

    if recipe.augment not in AUGMENTATIONS:
        raise ValueError(f"unknown augment {recipe.augment!r}; valid: {', '.join(AUGMENTATIONS)}")
    gen = torch.Generator().manual_seed(seed)
    visual = model.visual
    size = visual.image_size if isinstance(visual.image_size, int) else visual.image_size[0]
    pre = ImagePreprocessor(size, visual.image_mean or open_clip.OPENAI_DATASET_MEAN,
                            visual.image_std or open_clip.OPENAI_DATASET_STD)
    images = pre(samples.images, torch.device("cpu"))
    tokens = tokenizer(list(samples.texts))
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = max(1, len(samples) // recipe.batch_size)
    total = steps_per_epoch * recipe.epochs
    start_epoch, facts = _resume(work_dir, model, opt, gen)
    keep = set(checkpoint_epochs(recipe))
    t0, seen = time.perf_counter(), 0
    for epoch in range(start_epoch, recipe.epochs):
        order = torch.randperm(len(samples), generator=gen)
        running = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * recipe.batch_size : (b + 1) * recipe.batch_size]
            for g in opt.param_groups:
                g["lr"] = _lr_at(epoch * steps_per_epoch + b, total, recipe)
            loss = step(images[idx], tokens[idx], gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            running += loss.item()
            seen += len(idx)
        facts = {"epoch": epoch + 1, "loss": running / steps_per_epoch}
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        if epoch + 1 in keep:
            _save({**meta, "epoch": epoch + 1, "state_dict": state}, work_dir / f"epoch_{epoch + 1:03d}.pt")
        if epoch + 1 < recipe.epochs:  # the last epoch's checkpoint is the result: nothing left to resume
            _save({"epoch": epoch + 1, "state_dict": state, "optimizer": opt.state_dict(),
                   "generator": gen.get_state(), "facts": facts}, work_dir / "resume.pt")
        if progress:
            progress(epoch + 1, recipe.epochs, facts["loss"])
    elapsed = time.perf_counter() - t0
    (work_dir / "resume.pt").unlink(missing_ok=True)
    model.eval()
    facts.update({"pairs_per_second": seen / elapsed if elapsed > 0 and seen else None,
                  "train_pairs": len(samples), "resumed_from_epoch": start_epoch})
    (work_dir / "training.json").write_text(json.dumps(facts, indent=2))
    return facts


def _resume(work_dir: Path, model, opt, gen) -> tuple[int, dict]:
    path = work_dir / "resume.pt"
    if not path.exists():
        return 0, {}
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a half-written resume file: start over
        path.unlink(missing_ok=True)
        return 0, {}
    model.load_state_dict(state["state_dict"])
    opt.load_state_dict(state["optimizer"])
    gen.set_state(state["generator"])
    return int(state["epoch"]), dict(state.get("facts", {}))


# Training algorithms by name: shadow models may use another algorithm than the target's
# (EncoderMI's "training algorithm unknown" settings). Each has train_clip's signature.
TRAINERS: dict[str, Callable] = {"clip": train_clip, "simclr": train_simclr}
