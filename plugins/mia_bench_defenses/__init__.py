"""First-party plugin: defenses. Early stopping releases an earlier epoch of the same
training run (the per-epoch checkpoints), so it never retrains; augmentation, weight decay
and DP-SGD change the recipe (each trained and cached separately)."""

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
    strength: Literal["crop_flip", "strong"] = Field(
        "strong", description="training augmentation: crop_flip or strong (crop, flip, colour)")


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


class DPSGDOptions(BaseModel):
    epsilon: float = Field(4.0, gt=0, description="target epsilon after all epochs (inf: clipping and Poisson "
                                                   "sampling without noise)")
    noise_multiplier: float | None = Field(None, ge=0, description="noise std / max_grad_norm; overrides epsilon")
    max_grad_norm: float = Field(1.0, gt=0, description="per-sample gradient clipping norm")
    delta: float = Field(1e-5, gt=0, lt=1, description="delta of the (epsilon, delta) guarantee")
    accountant: Literal["rdp", "prv"] = Field("rdp", description="opacus accountant: rdp or prv")
    epochs: int | None = Field(None, ge=1, description="training epochs of the DP run (a DP recipe trains for its "
                                                         "privacy budget; default: the target's)")
    epoch: int | None = Field(None, ge=1, description="release this epoch's checkpoint (early stopping of the DP "
                                                       "run; its epsilon is that epoch's); default: the last")


class DPSGD(Defense):
    """DP-SGD (Abadi et al. 2016) through opacus: Poisson-sampled batches, per-sample gradient
    clipping, Gaussian noise, and the accountant's epsilon at ``delta`` per epoch (so
    ``early-stopping`` on a DP target reports the epsilon of the epoch it releases).

    The noise multiplier is solved for ``epsilon`` over the recipe's steps (or given). For
    CLIP's contrastive loss the per-sample gradient opacus clips is pair i's share of the
    *batch* loss gradient (through pair i's own forward path), which also depends on the
    other pairs of the batch: the accountant's epsilon is for that clipped unit and is not
    a formal guarantee for the coupled loss (it would be with negatives that hold no private
    data). Attention layers are trained as opacus's DPMultiheadAttention, parameters opacus
    cannot give per-sample gradients for stay at their random init, and models with
    BatchNorm are refused (for CLAP, ``clap-micro-gn`` is the micro CLAP with GroupNorm, which
    trains under DP): details in :mod:`mia_bench_defenses.dp_sgd`. Needs
    ``pip install -e ".[dp]"``.
    """

    name = "dp-sgd"
    description = "Train with DP-SGD (opacus): per-sample clipping, Gaussian noise, accountant epsilon at delta."
    Options = DPSGDOptions

    def apply_recipe(self, recipe: dict) -> dict:
        import math

        from .dp_sgd import require_opacus

        require_opacus()  # fail at once, naming the extra, rather than inside a training run
        o = self.options
        dp = {"epsilon": None if math.isinf(o.epsilon) else o.epsilon, "noise_multiplier": o.noise_multiplier,
              "max_grad_norm": o.max_grad_norm, "delta": o.delta, "accountant": o.accountant}
        return {**recipe, "dp": dp, **({"epochs": o.epochs} if o.epochs else {})}

    def release_epoch(self, n_epochs: int) -> int | None:
        if self.options.epoch is not None and self.options.epoch > n_epochs:
            raise InvalidOptionsError(f"defense 'dp-sgd': epoch={self.options.epoch} is past the target's {n_epochs} "
                                      f"training epochs; pick 1..{n_epochs}.")
        return self.options.epoch


@hookimpl
def register_defenses(register):
    for defense in (EarlyStopping, Augmentation, WeightDecay, DPSGD):
        register(defense)
