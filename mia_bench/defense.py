"""Defenses: change how a target is trained, or which checkpoint is released.

A defense is compared by privacy-utility trade-off: the same attacks run on the
defended target, next to its utility metrics. Two levers, both optional:
- ``apply_recipe(recipe) -> recipe``: training-time defenses (augmentation, weight
  decay, DP-SGD, deduplication...). The recipe is part of the target's cache key, so a
  defended target is cached like any other.
- ``release_epoch(n_epochs) -> int | None``: post-hoc checkpoint choice (early
  stopping), using the per-epoch checkpoints of the same training run; None = last.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from pydantic import BaseModel


class Defense:
    name: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type["BaseModel"] | None] = None

    def __init__(self, options: "BaseModel | None" = None):
        self.options = options if options is not None or self.Options is None else self.Options()

    def apply_recipe(self, recipe: dict) -> dict:
        return recipe

    def release_epoch(self, n_epochs: int) -> int | None:
        return None

    def describe(self) -> dict:
        return {"name": self.name, "options": self.options.model_dump() if self.options is not None else {}}


class NoDefense(Defense):
    name = "none"
    description = "No defense: the target as trained."
