"""The training recipe of targets trained here (torch-free, so listing components stays fast)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Recipe(BaseModel):
    """How a target is trained. Every field is part of the target's cache key."""

    epochs: int = Field(30, ge=1, description="training epochs")
    batch_size: int = Field(128, ge=2, description="pairs per batch")
    lr: float = Field(2e-3, gt=0, description="peak AdamW learning rate")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay")
    warmup_steps: int = Field(30, ge=0, description="linear warm-up steps")
    augment: str = Field("crop", description="training augmentation: none, crop, crop_flip, strong")
    checkpoint_every: int = Field(1, ge=1, description="save a checkpoint every k epochs (and the last); 1 = every epoch, for early stopping")


AUGMENTATIONS = ("none", "crop", "crop_flip", "strong")


def checkpoint_epochs(recipe: Recipe) -> list[int]:
    """The epochs (1-based) that get a released checkpoint."""
    epochs = [e for e in range(1, recipe.epochs + 1) if e % recipe.checkpoint_every == 0]
    return sorted(set(epochs) | {recipe.epochs})
