"""The training recipe of CLIPs trained here (torch-free, so listing components stays fast)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mia_bench.training import TrainingRecipe, checkpoint_epochs

AUGMENTATIONS = ("none", "crop", "crop_flip", "strong")


class Recipe(TrainingRecipe):
    """The harness's recipe plus CLIP's image augmentation (every field is part of the cache key)."""

    augment: Literal["none", "crop", "crop_flip", "strong"] = Field(
        "crop", description="training augmentation: none, crop, crop_flip, strong")


__all__ = ["AUGMENTATIONS", "Recipe", "checkpoint_epochs"]
