"""``mia-bench lira-loo``: leave-one-out evaluation of LiRA on a shadow-model pool.

Each pool model in turn is the target and the other N-1 are its shadows; its keep mask
gives the labels. N models x P pool pairs rows (about N*P/2 non-members) make TPR at 0.1%
FPR resolvable, which one 500-vs-500 target cannot. The pool is the one the LiRA attacks
use (same masks, same cached models), so this trains nothing they have trained.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

VARIANTS = (
    ("lira-online", "online", False),
    ("lira-online (fixed var)", "online", True),
    ("lira-offline", "offline", False),
    ("lira-offline (fixed var)", "offline", True),
    ("global-threshold", "global", False),
)


def run_loo(target: str, dataset: str, n_shadows: int, statistic: str, queries: str, seed: int, n_boot: int,
            progress: bool = True) -> dict:
    from mia_bench.attack import AttackContext
    from mia_bench.cache import Cache
    from mia_bench.metrics import evaluate
    from mia_bench.plan import resolve
    from mia_bench.results import environment

    from .attack import LiRAOptions, LiRAOnline
    from .pool import data_pool, pool_masks, pool_statistics
    from .scoring import global_threshold_scores, leave_one_out, lira_offline, lira_online

    cache = Cache()
    provider, builder = resolve("dataset", dataset), resolve("target", target)
    split = provider.split(provider.load_world(cache), seed)
    challenge, _ = split.challenge("pair")
    ctx = AttackContext(split.auxiliary, np.random.default_rng(seed), seed, cache, split.world.modality,
                        target_recipe=builder.recipe(), build_shadow=builder.build_shadow, progress=progress)
    attack = LiRAOnline(LiRAOptions(n_shadows=n_shadows, statistic=statistic, queries=queries))
    attack.check()
    fn, stat_key = attack.stat_fn(ctx)
    pool, _ = data_pool(challenge.samples, ctx)
    masks = pool_masks(n_shadows, len(pool), seed)
    stats, facts = pool_statistics(ctx, pool, masks, seed, fn, stat_key)
    groups = np.tile(np.array([g or f"row:{i}" for i, g in zip(pool.ids, pool.identities)]), n_shadows)
    results, curves = [], {}
    for label, kind, fixed in VARIANTS:
        if kind == "global":
            scores, labels = leave_one_out(stats, masks, lambda t, s, k: global_threshold_scores(t))
        else:
            scores, labels = leave_one_out(stats, masks, lira_online if kind == "online" else lira_offline,
                                           fix_variance=fixed)
        report = evaluate(scores, labels, n_boot=n_boot, seed=seed, groups=groups)
        results.append({"attack": label, **report.to_dict()})
        curves[label] = (scores, labels)
    return {"target": target, "dataset": dataset, "n_shadows": n_shadows, "statistic": statistic, "queries": queries,
            "seed": seed, "rows": int(stats.shape[0] * stats.shape[1]), **facts, "results": results,
            "environment": environment()}, curves


def write_loo(report: dict, curves: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mia_bench.cache import atomic_write_json, atomic_write_text
    from mia_bench.metrics import roc_points_for_plot

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "loo.json", report)
    fig, ax = plt.subplots(figsize=(6.2, 5))
    floor = 1.0
    for label, (s, y) in curves.items():
        f, t = roc_points_for_plot(s, y.astype(bool))
        floor = min(floor, float(f.min()))
        ax.plot(f, t, "--" if "global" in label else "-", lw=1.3, label=label)
    grid = np.logspace(np.log10(floor), 0, 50)
    ax.plot(grid, grid, ":", color="grey", lw=1, label="chance")
    ax.set(xscale="log", yscale="log", xlim=(floor, 1), ylim=(floor, 1.02), xlabel="false positive rate",
           ylabel="true positive rate", title=f"LiRA leave-one-out, {report['n_shadows']} models")
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "loo_roc.png", dpi=110)
    plt.close(fig)

    def ci(r, k):
        lo, hi = r[f"{k}_ci"]
        return "n/r" if r[k] is None else f"{r[k]:.3f} [{lo:.3f}, {hi:.3f}]"

    rows = ["| attack | AUC [95% CI] | TPR@1%FPR | TPR@0.1%FPR | members | non-members |", "|---|---|---|---|---|---|"]
    for r in report["results"]:
        rows.append(f"| {r['attack']} | {ci(r, 'auc')} | {ci(r, 'tpr_at_1fpr')} | {ci(r, 'tpr_at_01fpr')} | "
                    f"{r['n_members']} | {r['n_nonmembers']} |")
    text = (f"# LiRA, leave-one-out\n\nTarget recipe `{report['target']}` on `{report['dataset']}` (seed "
            f"{report['seed']}): {report['n_shadows']} models trained on balanced random halves of a pool of "
            f"{report['pool_size']} pairs (the pair-level challenge plus the attacker's population data). Each model "
            f"in turn is the target and the other {report['n_shadows'] - 1} its shadows. Statistic "
            f"`{report['statistic']}`, queries `{report['queries']}`. CIs: cluster bootstrap over identities. "
            f"Regenerate: `mia-bench lira-loo --n-shadows {report['n_shadows']}`.\n\n" + "\n".join(rows)
            + "\n\n![roc](loo_roc.png)\n")
    atomic_write_text(out / "loo.md", text)
    return out / "loo.md"


@click.command("lira-loo")
@click.option("--target", "-t", default="clip-micro-vit", help="Target spec whose recipe the pool models use.")
@click.option("--dataset", "-d", default="pii-faces")
@click.option("--n-shadows", default=16, type=int, help="Pool size (even); grows an existing pool.")
@click.option("--statistic", default="logit")
@click.option("--queries", default="original+flip")
@click.option("--seed", default=0, type=int)
@click.option("--n-boot", default=500, type=int)
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("leaderboards/lira"))
@click.option("--no-progress", is_flag=True)
def lira_loo(target, dataset, n_shadows, statistic, queries, seed, n_boot, out, no_progress) -> None:
    """Leave-one-out LiRA over a shadow-model pool: TPR at 0.1% FPR on many non-members."""
    report, curves = run_loo(target, dataset, n_shadows, statistic, queries, seed, n_boot, not no_progress)
    click.echo(write_loo(report, curves, out).read_text())
