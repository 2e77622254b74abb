"""A pool of shadow models for LiRA, trained on random halves of the attacker's data pool.

The data pool is the challenge pairs plus the attacker's population data (so shadow
training sets have about the target's size). Keep masks are balanced: each example is IN
for exactly half of the models. Two designs (``splits``):

- ``paired`` (default): masks grow two at a time, and model 2k+1 is the exact complement
  of model 2k: N models hold N/2 independent random halvings of the pool. The first N
  rows never depend on how many models were asked for (asking for 16 when 8 exist trains
  just 8 more, and a 2..32 shadow-count sweep shares one pool), and dropping a target's
  partner in leave-one-out leaves a reference set that is again exactly balanced, whatever
  the target's labels (ML Privacy Meter evaluates its pools the same way).
- ``independent``: Carlini et al.'s construction (each column a random permutation with
  exactly N/2 IN; no row is a function of another). Not a prefix family: a pool of 16
  shares no model with a pool of 8.

``mia-bench lira-loo --splits`` compares the two (leaderboards/lira/sweep.md). Every shadow
model is cached by the content hash of its training set, recipe and seed (the design only
changes which training sets are asked for, so cache keys stay honest); a pool is a cache
entry holding its masks and the models' statistics.
"""

from __future__ import annotations

import time

import numpy as np

from mia_bench.attack import AttackContext
from mia_bench.cache import stable_hash
from mia_bench.data import Samples
from mia_bench.errors import IncompatibleError
from mia_bench.training import training_compute

from .scoring import balanced_keep_masks, grow_keep_masks


SPLITS = ("paired", "independent")
_INDEPENDENT = 0x1D  # a seed domain of its own: independent masks never reuse the paired stream


def pool_masks(n_models: int, n_examples: int, seed: int, splits: str = "paired") -> np.ndarray:
    """(n_models, n_examples) balanced keep masks. ``paired``: a prefix of the masks for any
    larger pool, rows 2k and 2k+1 complements; ``independent``: Carlini et al.'s masks."""
    if splits == "independent":
        return balanced_keep_masks(n_models, n_examples, int(stable_hash(["independent", seed, _INDEPENDENT], 8), 16))
    if splits != "paired":
        raise ValueError(f"splits={splits!r} is not valid; valid: {', '.join(SPLITS)}")
    masks = balanced_keep_masks(2, n_examples, seed)
    while masks.shape[0] < n_models:
        masks = grow_keep_masks(masks, 2, seed)
    return masks


def data_pool(challenge: Samples, context: AttackContext) -> tuple[Samples, np.ndarray]:
    """(pool, rows): the challenge pairs plus the attacker's own pairs, in a canonical order
    (sorted by id, so masks never depend on the order of the challenge rows), and the pool
    row of each challenge row."""
    aux = context.auxiliary
    media = _media(context)
    parts = [challenge] + [p for p in (aux.population, aux.population_background) if p is not None]
    pool = Samples.concat([p.without(*(m for m in ("image", "audio") if m != media)) for p in parts])
    first = {}
    for i, x in enumerate(pool.ids):  # a row both in the challenge and the population counts once
        first.setdefault(x, i)
    order = sorted(first, key=str)
    pool = pool.subset([first[x] for x in order])
    position = {x: i for i, x in enumerate(order)}
    return pool, np.array([position[x] for x in challenge.ids], dtype=int)


def _media(context: AttackContext) -> str:
    return "image" if context.modality == "image" else "audio"


def partner(index: int) -> int:
    """The model whose keep mask is the complement of ``index``'s in a paired pool."""
    return index ^ 1


def model_seed(seed: int, index: int) -> int:
    return int(stable_hash(["lira-shadow", seed, index], 8), 16)


def pool_statistics(context: AttackContext, pool: Samples, masks: np.ndarray, seed: int, stat_fn, stat_key: dict,
                    ) -> tuple[np.ndarray, dict]:
    """``(n_models, n_pool, n_views)`` statistics of every pool pair on every shadow model.

    Each model's statistics are a cache entry keyed by what determines the model (the target's
    recipe, its training set, its seed), the pool and the statistic: a warm pool loads no model,
    and growing the pool or adding a variant computes only what is new."""
    if context.build_shadow is None:
        raise IncompatibleError("LiRA trains shadow models with the target's recipe, but this target's plugin cannot "
                                "build shadow models (e.g. a pretrained model).")
    t0 = time.perf_counter()
    train_sets = [pool.subset(np.flatnonzero(m)) for m in masks]
    seeds = [model_seed(seed, i) for i in range(len(masks))]
    pool_fp = pool.fingerprint()
    compute = training_compute()  # the shadows train here, in this cell's process (see training_compute)
    keys = [stable_hash({"recipe": context.target_recipe, "train": t.fingerprint(), "seed": s, "pool": pool_fp,
                         "compute": compute, **stat_key, "v": "lira-stats/3"}) for t, s in zip(train_sets, seeds)]
    trained = 0
    stats = []
    for train, model_seed_i, key in zip(train_sets, seeds, keys):
        def build(work, train=train, model_seed_i=model_seed_i):
            nonlocal trained
            shadow = context.build_shadow(train, model_seed_i, context.cache, progress=context.progress)
            trained += int(bool(shadow.info.get("trained_now")))
            np.save(work / "stats.npy", stat_fn(shadow, pool))

        path = context.cache.get_or_build("lira-stats", key, build)
        stats.append(np.load(path / "stats.npy"))
    return np.stack(stats), {"shadow_models": int(masks.shape[0]), "shadow_models_trained": trained,
                             "pool_size": len(pool), "pool_seconds": time.perf_counter() - t0}
