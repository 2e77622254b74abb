"""LiRA (Carlini et al., S&P 2022) and the global-threshold floor, as attack plugins.

``lira-online``: per-example Gaussians of the statistic on shadow models that trained on
the pair (IN) and that did not (OUT); score = log-likelihood ratio. ``lira-offline``: OUT
models only, one-sided test. ``fix_variance`` shares one variance across examples (the
paper's choice for few shadow models). ``global-threshold``: the statistic itself (Yeom et
al.), no shadow models. Pair level; the attacker holds the query pairs (image and caption).
"""

from __future__ import annotations

import time

import numpy as np
from pydantic import BaseModel, Field

from mia_bench.attack import Attack, AttackContext, AttackOutput
from mia_bench.data import Challenge
from mia_bench.errors import InvalidOptionsError

from .pool import data_pool, pool_masks, pool_statistics
from .scoring import global_threshold_scores, lira_offline, lira_online
from .statistics import QUERIES, STATISTICS, pair_statistics, resolve_queries

N_CANDIDATES = 63  # fixed candidate captions: 64-way softmax, like a batch of 64


class StatisticOptions(BaseModel):
    statistic: str = Field("logit", description=f"per-pair statistic: {', '.join(STATISTICS)}")
    queries: str = Field("original+augmented", description=f"augmented queries: {', '.join(QUERIES)} (augmented: "
                                                           "flip for images, time shift for audio)")


class LiRAOptions(StatisticOptions):
    n_shadows: int = Field(8, ge=2, le=1024, description="shadow models (even); each pair is IN for half")
    fix_variance: bool = Field(False, description="one global variance instead of per-example variances")


def candidate_texts(context: AttackContext, n: int = N_CANDIDATES) -> list[str]:
    """Fixed negatives for the logit / loss statistics: the attacker's background captions."""
    aux = context.auxiliary
    pool = list(dict.fromkeys((aux.population_background.texts if aux.population_background is not None else ())
                              + (aux.population.texts if aux.population is not None else ())))
    if len(pool) < 1:
        raise InvalidOptionsError("the logit / neg-loss statistics need candidate captions from the attacker's "
                                  "population data; use statistic=atanh-cos or give the split population data")
    rng = np.random.default_rng([context.seed, 0xCA4D])
    return [pool[i] for i in np.sort(rng.choice(len(pool), min(n, len(pool)), replace=False))]


class _StatisticAttack(Attack):
    units = ("pair",)
    inputs = frozenset({"text", "media"})
    requires = frozenset({"text", "media"})

    def check(self) -> None:
        o = self.options
        if o.statistic not in STATISTICS:
            raise InvalidOptionsError(f"{self.name}: statistic={o.statistic!r} is not valid; valid: {', '.join(STATISTICS)}")
        if o.queries not in QUERIES:
            raise InvalidOptionsError(f"{self.name}: queries={o.queries!r} is not valid; valid: {', '.join(QUERIES)}")
        if getattr(o, "n_shadows", 2) % 2:
            raise InvalidOptionsError(f"{self.name}: n_shadows={o.n_shadows} must be even (each pair IN for exactly "
                                      "half of the shadow models)")

    def stat_fn(self, context: AttackContext):
        o, cands = self.options, candidate_texts(context)
        queries = resolve_queries(o.queries, context.modality)

        def fn(model, samples):
            return pair_statistics(model, samples.media(context.modality), samples.texts, o.statistic, queries, cands)

        return fn, {"statistic": o.statistic, "queries": queries, "candidates": cands}


class GlobalThreshold(_StatisticAttack):
    name = "global-threshold"
    version = "1"
    description = "Global threshold on the per-pair statistic (Yeom et al. 2018): LiRA's floor, no shadow models."
    Options = StatisticOptions

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        fn, _ = self.stat_fn(context)
        stats = fn(target, challenge.samples)
        return AttackOutput(scores=global_threshold_scores(stats), features={"statistic": stats.mean(1)})


class _LiRA(_StatisticAttack):
    version = "1"
    Options = LiRAOptions
    uses_shadow_models = True
    score_fn = staticmethod(lira_online)

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        o = self.options
        fn, stat_key = self.stat_fn(context)
        pool, rows = data_pool(challenge.samples, context)
        masks = pool_masks(o.n_shadows, len(pool), context.seed)
        shadow_stats, facts = pool_statistics(context, pool, masks, context.seed, fn, stat_key)
        t0 = time.perf_counter()
        target_stats = fn(target, challenge.samples)
        scores = self.score_fn(target_stats, shadow_stats[:, rows], masks[:, rows], fix_variance=o.fix_variance)
        return AttackOutput(scores=scores, features={"statistic": target_stats.mean(1)},
                            info={**facts, "audit_seconds": time.perf_counter() - t0})


class LiRAOnline(_LiRA):
    name = "lira-online"
    description = "LiRA online: IN/OUT Gaussians per pair from shadow models (Carlini et al. 2022)."


class LiRAOffline(_LiRA):
    name = "lira-offline"
    description = "LiRA offline: one-sided test against OUT shadow models only (Carlini et al. 2022)."
    score_fn = staticmethod(lira_offline)
