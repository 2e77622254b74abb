"""Attacks: what a membership-inference attack plugin implements.

An attack is a class with a ``name``, a ``version``, an ``Options`` pydantic model and a
``run`` method. It declares what it needs so the runner can check compatibility before
any model loads and strip every input the threat model does not grant:

- ``units``: membership units it scores ("pair", "identity");
- ``inputs``: challenge modalities it receives: "text" and/or "media" (the person's
  image or audio). An attack without "media" never receives photos/clips, and the
  target refuses its ``encode_image``/``encode_audio`` calls: it "sends no biometric data";
- ``requires``: target capabilities: "text", "media" (the image/audio encoder),
  "gradients" (white-box gradient path). Model-free attacks (``model_free = True``) get
  no target at all;
- ``incompatibilities(target_builder, dataset)``: anything else it needs that the specs
  can decide (shadow models, population data), checked with the capabilities;
- ``supervised``: the attack learns from labelled challenge rows. The runner then
  cross-fits it (k folds: fit on k-1 with labels, score the held-out fold), so no row
  is ever scored by a model that saw its label.

Higher score = member. A minimal attack::

    class MyAttack(Attack):
        name = "my-attack"
        units = ("pair",)
        inputs = frozenset({"text", "media"})
        requires = frozenset({"text", "media"})

        def run(self, target, challenge, context):
            s = challenge.samples
            t = target.encode_text(s.texts)
            m = target.encode_media(s.images)
            return AttackOutput(scores=(t * m).sum(1))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np

from .data import AuxiliaryData, Challenge, Unit

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .cache import Cache
    from .dataset import DatasetProvider
    from .executor import Executor
    from .target import Target, TargetBuilder


@dataclass
class AttackOutput:
    """``scores``: ``(N,) float64``, higher = member. ``decisions``: the attack's own hard
    calls ``(N,) bool`` when it makes them. ``features``: named ``(N, ...)`` arrays kept
    with the results (ablations, histograms). ``info``: JSON-able facts, e.g.
    ``shadow_models_trained``, and ``audit_seconds`` when the attack served work from a
    cache (so the leaderboard shows what the audit costs, not the cache lookup)."""

    scores: np.ndarray
    decisions: np.ndarray | None = None
    features: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def validated(self, n: int, attack: str) -> "AttackOutput":
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if scores.shape != (n,):
            raise ValueError(f"attack {attack!r} returned {scores.shape[0]} scores for {n} challenge rows")
        if not np.all(np.isfinite(scores)):
            raise ValueError(f"attack {attack!r} returned non-finite scores ({int((~np.isfinite(scores)).sum())} of {n})")
        decisions = None if self.decisions is None else np.asarray(self.decisions, dtype=bool).reshape(-1)
        if decisions is not None and decisions.shape != (n,):
            raise ValueError(f"attack {attack!r} returned {decisions.shape[0]} decisions for {n} rows")
        return AttackOutput(scores, decisions, self.features, self.info)


@dataclass
class AttackContext:
    """What the runner hands an attack besides the target and the challenge.

    ``auxiliary``: data the threat model grants (population, names, templates).
    ``rng``: a generator from the cell's named random stream; use it, never global RNG.
    ``cache``: content-addressed cache for expensive artefacts (shadow models...).
    ``target_recipe``: how the target was made, for attacks whose threat model grants
    that knowledge (shadow-model attacks); ``build_shadow`` builds a model with a recipe
    on given samples, when the target plugin supports it.
    ``target_spec``: the target's spec string (without the control), so an attack can
    rebuild the target's builder in another process (``plan.resolve("target", spec)``).
    ``executor``: the :class:`~mia_bench.executor.Executor` of the process the cell runs
    in. Process and Ray runs parallelise over cell groups, and a cell inside a worker gets
    the serial executor (no nested pools), so an attack fanning work out through it gains
    nothing there; None means run it here, serially.
    """

    auxiliary: AuxiliaryData
    rng: np.random.Generator
    seed: int
    cache: "Cache"
    modality: str
    target_recipe: dict = field(default_factory=dict)
    build_shadow: Callable[..., "Target"] | None = None
    progress: bool = True
    target_spec: str | None = None
    executor: "Executor | None" = None


class Attack:
    """Base class for attack plugins; see the module docstring."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    Options: ClassVar[type["BaseModel"] | None] = None
    units: ClassVar[tuple[Unit, ...]] = ("pair",)
    inputs: ClassVar[frozenset[str]] = frozenset({"text", "media"})
    requires: ClassVar[frozenset[str]] = frozenset({"text", "media"})
    model_free: ClassVar[bool] = False
    supervised: ClassVar[bool] = False
    uses_shadow_models: ClassVar[bool] = False

    def __init__(self, options: "BaseModel | None" = None):
        # ``MyAttack()`` gets its default options, as a plan would build them from a bare name
        self.options = options if options is not None or self.Options is None else self.Options()

    @classmethod
    def sends_biometrics(cls) -> bool:
        return "media" in cls.inputs and not cls.model_free

    def incompatibilities(self, target_builder: "TargetBuilder", dataset: "DatasetProvider") -> list[str]:
        """Why this attack cannot run on this target builder and dataset provider, decided from
        their specs alone (nothing is loaded): e.g. it needs shadow models the target's plugin
        cannot build, or population data the split will not have. Called when a plan is
        validated; one message per problem, [] when none."""
        return []

    def check_auxiliary(self, auxiliary: AuxiliaryData) -> None:
        """Raise if the data the split grants cannot support this attack (e.g. no population
        pairs). The runner calls it before the target is built, so the error comes before any
        model loads or trains."""

    def fit(self, challenge: Challenge, labels: np.ndarray, context: AttackContext) -> "Attack":
        """Supervised attacks only: learn from labelled rows (called on the training folds)."""
        raise NotImplementedError(f"attack {self.name!r} is not supervised")

    def run(self, target: "Target | None", challenge: Challenge, context: AttackContext) -> AttackOutput:
        """Score every challenge row (higher = member)."""
        raise NotImplementedError
