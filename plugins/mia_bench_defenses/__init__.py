"""First-party plugin: defenses. Early stopping releases an earlier epoch of the same
training run (the per-epoch checkpoints), so it never retrains."""

from __future__ import annotations

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


@hookimpl
def register_defenses(register):
    register(EarlyStopping)
