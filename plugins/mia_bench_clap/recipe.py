"""The training recipe of CLAPs trained here (torch-free, so listing components stays fast)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mia_bench.training import TrainingRecipe

AUGMENTATIONS = ("none", "shift", "shift_gain")


class ClapRecipe(TrainingRecipe):
    """The harness's recipe with CLAP defaults: smaller batches and more epochs, so the micro CLAP
    learns the embedded world's few hundred pairs (at 30 epochs it had barely started to)."""

    epochs: int = Field(60, ge=1, description="training epochs")
    batch_size: int = Field(64, ge=2, description="pairs per batch")
    augment: Literal["none", "shift", "shift_gain"] = Field(
        "shift", description="training augmentation: none, shift (circular time shift), shift_gain")
