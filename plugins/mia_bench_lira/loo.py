"""``mia-bench lira-loo``: leave-one-out evaluation of LiRA and RMIA on a shadow-model pool,
and the shadow-count sweep of LiRA's paper (Carlini et al. 2022, Fig. 9).

Each pool model in turn is the target; its keep mask gives the labels. N targets x P pool
pairs (about N*P/2 non-members) make TPR at 0.1% FPR resolvable, which one 500-vs-500
target cannot. The pool is the one the LiRA and RMIA attacks use (same masks, same cached
models), so this trains nothing they have trained.

Which models are a target's shadows (:func:`shadow_sets`): in a ``paired`` pool the
target's partner (the complement of its mask) is never one, and the shadows are whole
pairs, so every pool pair is IN for exactly half of them whatever the target's labels;
all N-2 by default, or the first k/2 pairs after the target's in the sweep. In an
``independent`` pool they are the N-1 others (k of them in the sweep), and each pair is IN
for one model fewer when it is IN for the target: the counts carry a little of the label,
as in the paper's own evaluation.

RMIA's z samples are the pool's population pairs that are OUT for the target (the real
attack's z are the population, which the target never trained on); a pair is never
compared with itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import click
import numpy as np

from .loo_report import write_loo, write_sweep

LIRA_VARIANTS = (
    ("lira-online", "online", False),
    ("lira-online (fixed var)", "online", True),
    ("lira-offline", "offline", False),
    ("lira-offline (fixed var)", "offline", True),
    ("global-threshold", "global", False),
)
RMIA_VARIANTS = (("rmia-online", True), ("rmia-offline", False))


def shadow_sets(n_models: int, k: int | None, splits: str) -> list[np.ndarray]:
    """For each target model, the indices of its shadow models (see the module docstring)."""
    if splits == "paired":
        pairs = n_models // 2
        k = 2 * (pairs - 1) if k is None else k
        if k % 2 or not 2 <= k <= 2 * (pairs - 1):
            raise ValueError(f"a paired pool of {n_models} models gives each target 2..{2 * (pairs - 1)} shadows "
                             f"(whole pairs, so an even number); got {k}")
        order = [[(t // 2 + 1 + i) % pairs for i in range(k // 2)] for t in range(n_models)]
        return [np.array([m for p in ps for m in (2 * p, 2 * p + 1)]) for ps in order]
    k = n_models - 1 if k is None else k
    if not 1 <= k <= n_models - 1:
        raise ValueError(f"a pool of {n_models} models gives each target 1..{n_models - 1} shadows; got {k}")
    return [np.array([(t + 1 + i) % n_models for i in range(k)]) for t in range(n_models)]


def loo_scores(n_models: int, sets: Sequence[np.ndarray], score: Callable[[int, np.ndarray], np.ndarray],
               masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores, labels), target-major, over every target model: score(t, shadows) -> (n_pool,)."""
    scores = [np.asarray(score(t, sets[t]), dtype=np.float64) for t in range(n_models)]
    return np.concatenate(scores), masks.reshape(-1).copy()


def variant_scorers(stats: np.ndarray, masks: np.ndarray, log_p: np.ndarray, z_rows: np.ndarray,
                    gamma: float, a: float, rmia: bool) -> dict[str, Callable]:
    """Label -> score(t, shadows) for every LiRA variant (and RMIA's two when ``rmia``)."""
    from .rmia import rmia_scores
    from .scoring import global_threshold_scores, lira_offline, lira_online

    def lira(kind: str, fixed: bool):
        if kind == "global":
            return lambda t, sh: global_threshold_scores(stats[t])
        fn = lira_online if kind == "online" else lira_offline
        return lambda t, sh: fn(stats[t], stats[sh], masks[sh], fix_variance=fixed)

    def rmia_fn(online: bool):
        def score(t, sh):
            z = z_rows[~masks[t, z_rows]]
            self_z = np.full(masks.shape[1], -1)
            self_z[z] = np.arange(z.size)
            return rmia_scores(log_p[t], log_p[sh], masks[sh], log_p[t][z], log_p[sh][:, z], masks[sh][:, z],
                               online=online, gamma=gamma, a=a, self_z=self_z)
        return score

    out = {label: lira(kind, fixed) for label, kind, fixed in LIRA_VARIANTS}
    if rmia:
        out.update({label: rmia_fn(online) for label, online in RMIA_VARIANTS})
    return out


def build_pool(target: str, dataset: str, n_models: int, statistic: str, queries: str, seed: int, splits: str,
               progress: bool):
    """The pool's statistics, masks, per-row identity groups, population rows and facts."""
    from mia_bench.attack import AttackContext
    from mia_bench.cache import Cache
    from mia_bench.api import resolve

    from .attack import LiRAOnline, LiRAOptions
    from .pool import data_pool, pool_masks, pool_statistics

    cache = Cache()
    provider, builder = resolve("dataset", dataset), resolve("target", target)
    split = provider.split(provider.load_world(cache), seed)
    challenge, _ = split.challenge("pair")
    ctx = AttackContext(split.auxiliary, np.random.default_rng(seed), seed, cache, split.world.modality,
                        target_recipe=builder.recipe(), build_shadow=builder.build_shadow, progress=progress)
    attack = LiRAOnline(LiRAOptions(n_shadows=n_models, statistic=statistic, queries=queries, splits=splits))
    attack.check()
    fn, stat_key = attack.stat_fn(ctx)
    pool, _ = data_pool(challenge.samples, ctx)
    masks = pool_masks(n_models, len(pool), seed, splits)
    stats, facts = pool_statistics(ctx, pool, masks, seed, fn, stat_key)
    groups = np.array([g or f"row:{i}" for i, g in zip(pool.ids, pool.identities)])
    population = set(split.auxiliary.population.ids)
    z_rows = np.array([i for i, x in enumerate(pool.ids) if x in population], dtype=int)
    return stats, masks, groups, z_rows, facts


def run_loo(target: str, dataset: str, n_shadows: int, statistic: str, queries: str, seed: int, n_boot: int,
            progress: bool = True, *, splits: str = "paired", sweep: Sequence[int] = (), rmia: bool = True,
            gamma: float = 1.0, a: float = 0.3) -> tuple[dict, dict, list[dict]]:
    """(report, ROC curves of the full pool, sweep rows): leave-one-out over a pool of
    ``n_shadows`` models (grown to what the largest sweep size needs)."""
    from mia_bench.metrics import evaluate
    from mia_bench.results import environment

    from .rmia import pair_log_probability

    need = max(sweep, default=0) + (2 if splits == "paired" else 1)
    n_models = max(n_shadows, need + need % 2)
    stats, masks, groups, z_rows, facts = build_pool(target, dataset, n_models, statistic, queries, seed, splits,
                                                     progress)
    scorers = variant_scorers(stats, masks, pair_log_probability(stats, statistic), z_rows, gamma, a, rmia)
    tiled = np.tile(groups, n_models)

    def evaluate_all(k):
        sets = shadow_sets(n_models, k, splits)
        for label, score in scorers.items():
            try:
                s, y = loo_scores(n_models, sets, score, masks)
            except ValueError as exc:  # e.g. a pair with no IN shadow among few independent ones
                yield label, len(sets[0]), None, {"error": str(exc)}
                continue
            yield label, len(sets[0]), (s, y), evaluate(s, y, n_boot=n_boot, seed=seed, groups=tiled).to_dict()

    results, curves = [], {}
    for label, _k, curve, report in evaluate_all(None):
        results.append({"attack": label, **report})
        if curve is not None:
            curves[label] = curve
    rows = [{"attack": label, "shadows": k, **report} for size in sweep for label, k, _, report in evaluate_all(size)]
    report = {"target": target, "dataset": dataset, "n_shadows": n_models, "shadows_per_target": len(
        shadow_sets(n_models, None, splits)[0]), "splits": splits, "statistic": statistic, "queries": queries,
        "seed": seed, "rmia": {"gamma": gamma, "a": a, "z": "population pairs OUT for the target"} if rmia else None,
        "rows": int(stats.shape[0] * stats.shape[1]), **facts, "results": results, "environment": environment()}
    return report, curves, rows


def _sizes(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        sizes = tuple(sorted({int(x) for x in text.split(",")}))
    except ValueError:
        raise click.BadParameter(f"--sweep takes comma-separated shadow counts, e.g. 2,4,8,16,32; got {text!r}") from None
    if any(k < 1 for k in sizes):
        raise click.BadParameter(f"--sweep counts must be >= 1; got {text!r}")
    return sizes


@click.command("lira-loo")
@click.option("--target", "-t", default="clip-micro-vit", help="Target spec whose recipe the pool models use.")
@click.option("--dataset", "-d", default="pii-faces")
@click.option("--n-shadows", default=16, type=int, help="Pool size (even); grows an existing pool.")
@click.option("--statistic", default="logit")
@click.option("--queries", default="original+flip")
@click.option("--seed", default=0, type=int)
@click.option("--n-boot", default=500, type=int)
@click.option("--splits", type=click.Choice(["paired", "independent"]), default="paired",
              help="Shadow keep masks: paired (LiRA attacks' default) or independent (Carlini et al.).")
@click.option("--sweep", default=None, help="Shadow counts per target, e.g. 2,4,8,16,32: writes sweep.md and "
                                            "sweep.png; the pool grows to what the largest needs.")
@click.option("--rmia/--no-rmia", default=True, help="Also evaluate RMIA online/offline on the same pool.")
@click.option("--gamma", default=1.0, type=float, help="RMIA's likelihood-ratio threshold.")
@click.option("--a", "offline_a", default=0.3, type=float, help="RMIA offline's correction a.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("leaderboards/lira"))
@click.option("--no-progress", is_flag=True)
def lira_loo(target, dataset, n_shadows, statistic, queries, seed, n_boot, splits, sweep, rmia, gamma, offline_a, out,
             no_progress) -> None:
    """Leave-one-out LiRA (and RMIA) over a shadow-model pool: TPR at 0.1% FPR on many non-members."""
    sizes = _sizes(sweep)
    report, curves, rows = run_loo(target, dataset, n_shadows, statistic, queries, seed, n_boot, not no_progress,
                                   splits=splits, sweep=sizes, rmia=rmia, gamma=gamma, a=offline_a)
    suffix = "" if splits == "paired" else f"-{splits}"
    click.echo(write_loo(report, curves, out, suffix).read_text())
    if rows:
        click.echo(write_sweep(report, rows, out, suffix, sweep).read_text())
