"""First-party plugin: defenses. Early stopping releases an earlier epoch of the same
training run (the per-epoch checkpoints), so it never retrains."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mia_bench import hookimpl
from mia_bench.defense import Defense
from mia_bench.errors import InvalidOptionsError


class EarlyStoppingOptions(BaseModel):
    epoch: int = Field(5, ge=1, description="release the checkpoint of this epoch instead of the last")


class EarlyStopping(Defense):
    name = "early-stopping"
    description = "Release an earlier epoch's checkpoint of the same training run (no retraining)."
    Options = EarlyStoppingOptions

    def release_epoch(self, n_epochs: int) -> int:
        if self.options.epoch > n_epochs:
            raise InvalidOptionsError(
                f"defense 'early-stopping': epoch={self.options.epoch} is past the target's {n_epochs} training "
                f"epochs; pick 1..{n_epochs}."
            )
        return self.options.epoch


class AugmentationOptions(BaseModel):
    strength: Literal["crop_flip", "strong"] = Field("strong", description="training augmentation: crop_flip or strong (crop, flip, colour)")


class Augmentation(Defense):
    """Stronger data augmentation at training time: the model sees fewer exact copies of a
    training image, the overfitting EncoderMI and CSA exploit. Changes the recipe, so the
    defended target is trained (and cached) separately."""

    name = "augmentation"
    description = "Train with stronger data augmentation (crop_flip or strong)."
    Options = AugmentationOptions

    def apply_recipe(self, recipe: dict) -> dict:
        return {**recipe, "augment": self.options.strength}


class WeightDecayOptions(BaseModel):
    value: float = Field(0.5, ge=0, description="AdamW weight decay (the default recipe uses 0.1)")


class WeightDecay(Defense):
    name = "weight-decay"
    description = "Train with stronger AdamW weight decay (regularisation against memorisation)."
    Options = WeightDecayOptions

    def apply_recipe(self, recipe: dict) -> dict:
        return {**recipe, "weight_decay": self.options.value}


@hookimpl
def register_defenses(register):
    for defense in (EarlyStopping, Augmentation, WeightDecay):
        register(defense)
