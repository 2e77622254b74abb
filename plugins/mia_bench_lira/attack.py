"""LiRA (Carlini et al., S&P 2022) and the global-threshold floor, as attack plugins.

``lira-online``: per-example Gaussians of the statistic on shadow models that trained on
the pair (IN) and that did not (OUT); score = log-likelihood ratio. ``lira-offline``: OUT
models only, one-sided test. ``fix_variance`` shares one variance across examples (the
paper's choice for few shadow models). ``global-threshold``: the statistic itself (Yeom et
al.), no shadow models. ``rmia-online`` / ``rmia-offline``: RMIA (Zarifzadeh et al., ICML
2024) over the same shadow pool, population pairs as its z samples. Pair level; the
attacker holds the query pairs (image and caption).
"""

from __future__ import annotations

import time

import numpy as np
from pydantic import BaseModel, Field

from mia_bench.attack import Attack, AttackContext, AttackOutput
from mia_bench.data import Challenge
from mia_bench.errors import IncompatibleError, InvalidOptionsError

from .pool import SPLITS, data_pool, pool_masks, pool_statistics
from .rmia import pair_log_probability, rmia_scores
from .scoring import global_threshold_scores, lira_offline, lira_online
from .statistics import QUERIES, STATISTICS, pair_statistics, resolve_queries

N_CANDIDATES = 63  # fixed candidate captions: 64-way softmax, like a batch of 64


class StatisticOptions(BaseModel):
    statistic: str = Field("logit", description=f"per-pair statistic: {', '.join(STATISTICS)}")
    queries: str = Field("original+augmented", description=f"augmented queries: {', '.join(QUERIES)} (augmented: "
                                                           "flip for images, time shift for audio)")


class PoolOptions(StatisticOptions):
    n_shadows: int = Field(8, ge=2, le=1024, description="shadow models (even); each pair is IN for half")
    splits: str = Field("paired", description=f"shadow keep masks: {', '.join(SPLITS)} (see pool.py)")


class LiRAOptions(PoolOptions):
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
        if getattr(o, "splits", "paired") not in SPLITS:
            raise InvalidOptionsError(f"{self.name}: splits={o.splits!r} is not valid; valid: {', '.join(SPLITS)}")

    def incompatibilities(self, target_builder, dataset) -> list[str]:
        """Plan-time check: a shadow pool needs a target whose plugin can build shadow models."""
        if self.uses_shadow_models and getattr(target_builder, "build_shadow", None) is None:
            return [f"attack {self.name!r} trains shadow models with the target's recipe, but target "
                    f"{target_builder.name!r} cannot build them (e.g. a pretrained model); use a target trained "
                    "here, e.g. clip-micro-vit"]
        return []

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


class _PoolAttack(_StatisticAttack):
    """An attack over the cached LiRA shadow pool (the same masks, models and statistics)."""

    uses_shadow_models = True

    def pool(self, challenge: Challenge, context: AttackContext, fn, stat_key: dict):
        """(pool, challenge rows, masks, (n_models, n_pool, n_views) statistics, facts)."""
        o = self.options
        pool, rows = data_pool(challenge.samples, context)
        masks = pool_masks(o.n_shadows, len(pool), context.seed, o.splits)
        shadow_stats, facts = pool_statistics(context, pool, masks, context.seed, fn, stat_key)
        return pool, rows, masks, shadow_stats, facts


class _LiRA(_PoolAttack):
    version = "1"
    Options = LiRAOptions
    score_fn = staticmethod(lira_online)

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        o = self.options
        fn, stat_key = self.stat_fn(context)
        pool, rows, masks, shadow_stats, facts = self.pool(challenge, context, fn, stat_key)
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


class RMIAOnlineOptions(PoolOptions):
    gamma: float = Field(1.0, gt=0, description="LR(x, z) threshold: score = fraction of z with LR >= gamma")
    n_z: int | None = Field(None, ge=1, description="z samples drawn from the population pairs (default: all)")


class RMIAOfflineOptions(RMIAOnlineOptions):
    a: float = Field(0.3, ge=0, le=1, description="offline correction p_IN(x) ~ a p_OUT(x) + 1 - a")


class _RMIA(_PoolAttack):
    """RMIA (Zarifzadeh et al., ICML 2024) over the LiRA shadow pool; scoring in :mod:`.rmia`.

    Reference models: the LiRA pool (``n_shadows``, ``splits``; nothing is trained that LiRA
    has trained). z samples: the attacker's population pairs (known non-members, the same
    distribution as the challenge), all of them or ``n_z`` drawn with the run seed (the same
    z for the target and its null control). The probability of a pair is the softmax
    probability of its caption among the candidate captions (``statistic=logit``, default;
    ``neg-loss`` gives the same probability; ``atanh-cos`` maps the cosine into (0, 1): see
    :data:`.rmia.PROBABILITIES`)."""

    version = "1"
    online: bool = True

    def incompatibilities(self, target_builder, dataset) -> list[str]:
        problems = super().incompatibilities(target_builder, dataset)
        split_config = getattr(dataset, "split_config", None)
        if split_config is not None and split_config().n_population < 1:
            problems.append(f"attack {self.name!r} takes its z samples from the attacker's population pairs, but "
                            f"dataset {dataset.name!r} has n_population=0; give it population identities "
                            "(n_population >= 1)")
        return problems

    def z_samples(self, context: AttackContext):
        population = context.auxiliary.population
        if population is None or len(population) == 0:
            raise IncompatibleError(f"{self.name}: the split has no population pairs to draw z samples from; use a "
                                    "dataset with n_population >= 1")
        n_z = self.options.n_z
        if n_z is None or n_z >= len(population):
            return population
        rng = np.random.default_rng([context.seed, 0x2A11])  # the run seed: target and null control share z
        return population.subset(np.sort(rng.choice(len(population), n_z, replace=False)))

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        o = self.options
        z = self.z_samples(context)  # before any shadow model loads
        fn, stat_key = self.stat_fn(context)
        pool, rows, masks, shadow_stats, facts = self.pool(challenge, context, fn, stat_key)
        t0 = time.perf_counter()
        position = {x: i for i, x in enumerate(pool.ids)}
        z_rows = np.array([position[x] for x in z.ids], dtype=int)
        z_index = {x: j for j, x in enumerate(z.ids)}
        self_z = np.array([z_index.get(x, -1) for x in challenge.samples.ids], dtype=int)

        def log_p(stats):
            return pair_log_probability(stats, o.statistic)

        target_x, target_z = fn(target, challenge.samples), fn(target, z)
        scores = rmia_scores(log_p(target_x), log_p(shadow_stats[:, rows]), masks[:, rows], log_p(target_z),
                             log_p(shadow_stats[:, z_rows]), masks[:, z_rows], online=self.online, gamma=o.gamma,
                             a=getattr(o, "a", 0.0), self_z=self_z)
        return AttackOutput(scores=scores, features={"statistic": target_x.mean(1)},
                            info={**facts, "z_samples": len(z), "audit_seconds": time.perf_counter() - t0})


class RMIAOnline(_RMIA):
    name = "rmia-online"
    description = ("RMIA online: fraction of population z that x beats in likelihood ratio, p(x) from IN and OUT "
                   "shadow models (Zarifzadeh et al. 2024).")
    Options = RMIAOnlineOptions


class RMIAOffline(_RMIA):
    name = "rmia-offline"
    description = ("RMIA offline: OUT shadow models only, p(x) = ((1+a) p_OUT(x) + 1 - a) / 2 "
                   "(Zarifzadeh et al. 2024).")
    Options = RMIAOfflineOptions
    online = False
