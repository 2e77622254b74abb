"""The harness's training machinery, shared by every target plugin that trains models here.

A plugin supplies the model and one function, ``step(batch_indices, generator) -> loss``
(its algorithm's loss on a batch of the training set it holds in memory); this module
runs the rest the same way for CLIP, CLAP and shadow models: AdamW with a cosine
schedule and warm-up, per-epoch checkpoints for early stopping, and ``resume.pt``
rewritten after every epoch so a killed training resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, Field


class TrainingRecipe(BaseModel):
    """How a model is trained. Every field is part of the model's cache key."""

    epochs: int = Field(30, ge=1, description="training epochs")
    batch_size: int = Field(128, ge=2, description="pairs per batch")
    lr: float = Field(2e-3, gt=0, description="peak AdamW learning rate")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay")
    warmup_steps: int = Field(30, ge=0, description="linear warm-up steps")
    checkpoint_every: int = Field(1, ge=1, description="save a checkpoint every k epochs (and the last); 1 = every epoch, for early stopping")


def checkpoint_epochs(recipe: TrainingRecipe) -> list[int]:
    """The epochs (1-based) that get a released checkpoint."""
    epochs = [e for e in range(1, recipe.epochs + 1) if e % recipe.checkpoint_every == 0]
    return sorted(set(epochs) | {recipe.epochs})


def lr_at(step: int, total: int, recipe: TrainingRecipe) -> float:
    if step < recipe.warmup_steps:
        return recipe.lr * (step + 1) / recipe.warmup_steps
    progress = (step - recipe.warmup_steps) / max(1, total - recipe.warmup_steps)
    return 0.5 * recipe.lr * (1 + math.cos(math.pi * progress))


def save_atomic(obj: dict, path: Path) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


LOGIT_SCALES = ("logit_scale", "logit_scale_a", "logit_scale_t")  # CLIP's, and CLAP's two
MAX_LOGIT_SCALE = math.log(100)


def train_loop(model, n: int, recipe: TrainingRecipe, seed: int, work_dir: Path, device, meta: dict,
               step: Callable, progress: Callable[[int, int, float], None] | None = None) -> dict:
    """Train ``model`` in place on ``n`` in-memory examples; returns training facts.

    ``step(indices, generator) -> loss`` is the algorithm's loss on one batch; the
    generator (seeded by ``seed``, saved in ``resume.pt``) drives shuffling and any
    augmentation, so a resumed run continues the same random stream.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = max(1, n // recipe.batch_size)
    total = steps_per_epoch * recipe.epochs
    start_epoch, facts = _resume(work_dir, model, opt, gen)
    keep = set(checkpoint_epochs(recipe))
    scales = [getattr(model, name) for name in LOGIT_SCALES if hasattr(model, name)]
    t0, seen = time.perf_counter(), 0
    for epoch in range(start_epoch, recipe.epochs):
        order = torch.randperm(n, generator=gen)
        running = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * recipe.batch_size : (b + 1) * recipe.batch_size]
            for g in opt.param_groups:
                g["lr"] = lr_at(epoch * steps_per_epoch + b, total, recipe)
            loss = step(idx, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                for scale in scales:
                    scale.clamp_(0, MAX_LOGIT_SCALE)
            running += loss.item()
            seen += len(idx)
        facts = {"epoch": epoch + 1, "loss": running / steps_per_epoch}
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        if epoch + 1 in keep:
            save_atomic({**meta, "epoch": epoch + 1, "state_dict": state}, work_dir / f"epoch_{epoch + 1:03d}.pt")
        if epoch + 1 < recipe.epochs:  # the last epoch's checkpoint is the result: nothing left to resume
            save_atomic({"epoch": epoch + 1, "state_dict": state, "optimizer": opt.state_dict(),
                         "generator": gen.get_state(), "facts": facts}, work_dir / "resume.pt")
        if progress:
            progress(epoch + 1, recipe.epochs, facts["loss"])
    elapsed = time.perf_counter() - t0
    (work_dir / "resume.pt").unlink(missing_ok=True)
    model.eval()
    facts.update({"pairs_per_second": seen / elapsed if elapsed > 0 and seen else None,
                  "train_pairs": n, "resumed_from_epoch": start_epoch})
    (work_dir / "training.json").write_text(json.dumps(facts, indent=2))
    return facts


def _resume(work_dir: Path, model, opt, gen) -> tuple[int, dict]:
    import torch

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


def training_bar(label: str, epochs: int) -> Callable[[int, int, float], None]:
    """A progress callback for :func:`train_loop` that draws an epoch bar with the loss."""
    from tqdm.auto import tqdm

    bar = tqdm(total=epochs, desc=f"training {label}", unit="epoch", leave=False, dynamic_ncols=True)

    def update(epoch: int, total: int, loss: float) -> None:
        bar.n = epoch
        bar.set_postfix(loss=f"{loss:.3f}")
        bar.refresh()
        if epoch == total:
            bar.close()

    return update
