"""``mia-bench umid-ablation``: every UMID variant we tried, measured on the same target.

Rows: features (S, D, both, ...), score (oriented-z vs the paper's detector ensemble),
single detectors vs the ensemble, inversion space, reference set, and sweeps over K and
steps (plotted as AUC/accuracy vs parameter, like the paper's Figures 4 and 5), plus the
text-kNN baseline and the null-target control. Inversions are cached per inversion
setting, so decision-only variants cost nothing extra.

``--variant LABEL`` (repeatable) re-checks chosen rows on further seeds: the default, those
rows, the text-kNN baseline and the null control, without the sweeps.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

DEV_SEEDS = (100, 101, 102)  # development seeds: this ablation chooses UMID's defaults
DEFAULT = {"k": 8, "steps": 100, "lr": 0.05, "space": "pixel"}
VARIANTS: list[tuple[str, dict]] = [
    ("default (S+D, oriented, 4 detectors)", {}),
    ("S only", {"features": ["S"]}),
    ("D only", {"features": ["D"]}),
    ("S_max only", {"features": ["S_max"]}),
    ("S + S_max", {"features": ["S", "S_max"]}),
    ("ensemble (paper: 5 detectors score and vote), S+D", {"score": "ensemble"}),
    ("ensemble (paper), S only", {"score": "ensemble", "features": ["S"]}),
    ("iforest only", {"detectors": ["iforest"]}),
    ("lof only", {"detectors": ["lof"]}),
    ("ocsvm only", {"detectors": ["ocsvm"]}),
    ("ecod only", {"detectors": ["ecod"]}),
    ("reference: name-shaped gibberish", {"reference": "gibberish-names"}),
    ("reference: population names", {"reference": "population-names"}),
    ("space lowres:8", {"space": "lowres:8"}),
    ("space lowres:4", {"space": "lowres:4"}),
    ("lr 0.01", {"lr": 0.01}),
    ("30 steps (S+D)", {"steps": 30}),
    ("30 steps, S only", {"steps": 30, "features": ["S"]}),
]
K_SWEEP = [2, 4, 8, 16, 32]
STEP_SWEEP = [5, 10, 30, 100]


def _evaluate(session, attack: str, options: dict, control: str = "none") -> dict:
    """One variant on one seed; ``_scores`` (dropped before writing) feeds the multi-seed
    aggregation."""
    from mia_bench.aggregate import SeedScores

    scored = session.score({"name": attack, "options": options}, unit="identity", control=control)
    out, labels, report = scored.output, scored.labels.astype(bool), scored.report
    fpr_real = None if out.decisions is None else float(out.decisions[~labels].mean())
    # identity level: each row is one identity, its own bootstrap group; rows pair up by position
    ids = np.array([str(i) for i in range(labels.size)])
    decisions = out.decisions if out.decisions is not None else out.scores >= report.threshold
    seed_scores = SeedScores(session.seed, np.asarray(out.scores, np.float64), labels, ids, decisions.astype(bool), ids)
    return {"_scores": seed_scores, "auc": report.auc, "auc_ci": list(report.auc_ci),
            "accuracy": report.decision_accuracy or report.balanced_accuracy,
            "best_accuracy": report.balanced_accuracy, "tpr_at_1fpr": report.tpr_at_1fpr,
            "fpr_real_nonmembers": fpr_real,
            "seconds_per_query": out.info.get("inversion_seconds_per_query", scored.seconds / len(labels)),
            "forward_backward_rows": out.info.get("forward_backward_rows")}


def pick_variants(labels: tuple[str, ...] = ()) -> list[tuple[str, dict]]:
    """The default row, then the named rows (all rows when none is named)."""
    known = dict(VARIANTS)
    unknown = [label for label in labels if label not in known]
    if unknown:
        raise click.BadParameter(f"{', '.join(map(repr, unknown))} is not a row of the ablation; valid: "
                                 f"{', '.join(repr(v) for v, _ in VARIANTS[1:])}", param_hint="--variant")
    if not labels:
        return list(VARIANTS)
    return [VARIANTS[0]] + [(label, known[label]) for label in dict.fromkeys(labels) if label != VARIANTS[0][0]]


def run_ablation(target: str, dataset: str, seed: int, cache_dir: Path | None,
                 variants: tuple[str, ...] = ()) -> dict:
    """One seed's rows; with ``variants`` only the default, those rows and the baseline and
    control rows, and no sweeps."""
    from mia_bench.api import Session
    from mia_bench.results import environment

    session = Session(target, dataset, seed, cache_dir)
    rows = []
    for label, opts in pick_variants(variants):
        rows.append({"variant": label, "options": {**DEFAULT, **opts}, **_evaluate(session, "umid", {**DEFAULT, **opts})})
    rows.append({"variant": "text-kNN baseline (no inversion)", "options": {}, **_evaluate(session, "text-knn", {})})
    rows.append({"variant": "null target, S only", "options": {"features": ["S"]},
                 **_evaluate(session, "umid", {**DEFAULT, "features": ["S"]}, control="null")})
    rows.append({"variant": "null target, default", "options": {}, **_evaluate(session, "umid", DEFAULT, control="null")})
    sweeps = {} if variants else _sweeps(session)
    return {"target": target, "dataset": dataset, "seed": seed, "rows": rows, "sweeps": sweeps,
            "variants": list(variants), "environment": environment()}


def _sweeps(session) -> dict:
    """AUC against K and against steps, with S only and with S+D."""
    sweeps: dict = {"k": [], "steps": []}
    for k in K_SWEEP:
        for feats in (["S"], ["S", "D"]):
            sweeps["k"].append({"k": k, "features": feats, **_evaluate(session, "umid", {**DEFAULT, "k": k, "features": feats})})
    for steps in STEP_SWEEP:
        for feats in (["S"], ["S", "D"]):
            sweeps["steps"].append({"steps": steps, "features": feats,
                                    **_evaluate(session, "umid", {**DEFAULT, "steps": steps, "features": feats})})
    return sweeps


def aggregate_ablation(results: list[dict], n_boot: int = 1000) -> dict:
    """The seeds' ablations as one table: each row's mean AUC over seeds with the leaderboard's
    two-level bootstrap CI, and its paired difference from the default row. The bootstrap draws
    depend on the seeds only, so every row resamples the same seeds and identities and the
    difference of two rows' replicates is a paired replicate."""
    from mia_bench.aggregate import aggregate_seeds

    seeds = [r["seed"] for r in results]

    def combine(per_seed: list[dict]) -> tuple[dict, np.ndarray]:
        agg = aggregate_seeds([r["_scores"] for r in per_seed], n_boot=n_boot)
        spq = [r["seconds_per_query"] for r in per_seed]
        fpr = [r["fpr_real_nonmembers"] for r in per_seed if r["fpr_real_nonmembers"] is not None]
        row = {k: v for k, v in per_seed[0].items() if k in ("variant", "options", "k", "steps", "features")}
        row |= {"auc": agg.auc_mean, "auc_ci": list(agg.auc_ci), "auc_sd": agg.auc_sd,
                "auc_per_seed": {str(k): v for k, v in agg.auc_per_seed.items()},
                "accuracy": float(np.mean([r["accuracy"] for r in per_seed])),
                "best_accuracy": float(np.mean([r["best_accuracy"] for r in per_seed])),
                "tpr_at_1fpr": agg.tpr_1.tpr if agg.tpr_1 else None,
                "fpr_real_nonmembers": float(np.mean(fpr)) if fpr else None,
                "seconds_per_query": float(np.mean(spq))}
        return row, agg.replicates["auc"]

    rows, reps = [], []
    for i in range(len(results[0]["rows"])):
        row, rep = combine([r["rows"][i] for r in results])
        rows.append(row)
        reps.append(rep)
    base, base_rep = rows[0], reps[0]  # the default
    for row, rep in zip(rows, reps):
        if row is base or row["variant"].startswith("null target") or row["variant"].startswith("text-kNN"):
            continue
        diff = rep - base_rep
        row["delta_vs_default"] = row["auc"] - base["auc"]
        row["delta_ci"] = [float(np.quantile(diff, 0.025)), float(np.quantile(diff, 0.975))]
        row["seeds_above_default"] = sum(row["auc_per_seed"][k] > base["auc_per_seed"][k] for k in row["auc_per_seed"])
    sweeps = {kind: [combine([r["sweeps"][kind][i] for r in results])[0] for i in range(len(points))]
              for kind, points in results[0]["sweeps"].items()}
    return {"target": results[0]["target"], "dataset": results[0]["dataset"], "seeds": seeds, "rows": rows,
            "sweeps": sweeps, "variants": results[0].get("variants", []), "environment": results[-1]["environment"]}


def _strip(result: dict) -> dict:
    """A seed's result without its in-memory scores (for the JSON)."""
    return {**result, "rows": [{k: v for k, v in r.items() if k != "_scores"} for r in result["rows"]],
            "sweeps": {kind: [{k: v for k, v in r.items() if k != "_scores"} for r in pts]
                       for kind, pts in result["sweeps"].items()}}


def write_report(result: dict, out_dir: Path, per_seed: list[dict] | None = None) -> None:
    from mia_bench.cache import atomic_write_json, atomic_write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "ablation.json", {**result, "per_seed": [_strip(r) for r in per_seed or []]})
    seeds = result["seeds"]
    from mia_bench.aggregate import seed_options

    seed_args = seed_options(seeds) + "".join(f' --variant "{v}"' for v in result.get("variants", []))
    lines = [f"# UMID ablation\n\nTarget `{result['target']}` on `{result['dataset']}`, development seeds "
             f"{', '.join(map(str, seeds))} (each its own split, target and null target), identity level, 100 members "
             "vs 100 non-members per seed. AUC: mean over seeds with a two-level bootstrap 95% CI (seeds, then "
             "identities), as on the leaderboards; Δ: the paired difference from the default row (same bootstrap "
             "draws) and on how many seeds the row beat the default. Unless a row says otherwise: K=8, 100 Adam "
             "steps at lr 0.05 in pixel space, 100 gibberish references, features S+D, score oriented-z, "
             "IForest+LOF+OCSVM+ECOD. acc = balanced accuracy of the hard decision (mean over seeds); best acc = at "
             "the best threshold; TPR@1% pooled over seeds; FPR on real non-member names = share of real "
             "non-members the hard decision calls members. s/query = inversion cost. "
             "With oriented-z the continuous score is the signed z-score, so single detectors "
             "change only the hard decision (acc), not the AUC. "
             f"Regenerate with `mia-bench umid-ablation{seed_args} --out {out_dir.as_posix()}`.\n",
             "| variant | AUC [95% CI] | per seed | Δ vs default [95% CI] | acc | best acc | TPR@1% "
             "| FPR on real non-member names | s/query |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        fpr = "" if r["fpr_real_nonmembers"] is None else f"{r['fpr_real_nonmembers']:.2f}"
        tpr = "n/r" if r["tpr_at_1fpr"] is None else f"{r['tpr_at_1fpr']:.2f}"
        per = " / ".join(f"{r['auc_per_seed'][str(s)]:.2f}" for s in seeds)
        delta = "" if "delta_ci" not in r else (
            f"{r['delta_vs_default']:+.3f} [{r['delta_ci'][0]:+.2f}, {r['delta_ci'][1]:+.2f}], "
            f"{r['seeds_above_default']} of {len(seeds)}")
        lines.append(f"| {r['variant']} | {r['auc']:.3f} [{r['auc_ci'][0]:.2f}, {r['auc_ci'][1]:.2f}] | {per} | "
                     f"{delta} | {r['accuracy']:.3f} | {r['best_accuracy']:.3f} | {tpr} | {fpr} | "
                     f"{r['seconds_per_query']:.3f} |")
    if not result["sweeps"]:  # a re-check of chosen rows: no sweeps were run
        atomic_write_text(out_dir / "ablation.md", "\n".join(lines) + "\n")
        return
    atomic_write_text(out_dir / "ablation.md",
                      "\n".join(lines) + "\n\n![AUC vs K](auc_vs_k.png) ![AUC vs steps](auc_vs_steps.png)\n")
    _plot_sweep(result["sweeps"]["k"], "k", "restarts K", out_dir / "auc_vs_k.png")
    _plot_sweep(result["sweeps"]["steps"], "steps", "inversion steps", out_dir / "auc_vs_steps.png")


def _plot_sweep(points: list[dict], key: str, xlabel: str, path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for feats in (["S"], ["S", "D"]):
        pts = [p for p in points if p["features"] == feats]
        x = [p[key] for p in pts]
        label = "+".join(feats)
        aucs = [p["auc"] for p in pts]
        axes[0].errorbar(x, aucs, yerr=np.abs(np.array([p["auc_ci"] for p in pts]).T - aucs),
                         marker="o", capsize=3, label=label)
        axes[1].plot(x, [p["accuracy"] for p in pts], marker="o", label=label)
    for ax, name in zip(axes, ("AUC (95% CI)", "balanced accuracy (own decision)")):
        ax.axhline(0.5, color="grey", ls=":", lw=1)
        ax.set(xscale="log", xlabel=xlabel, ylabel=name)
        ticks = sorted({p[key] for p in points})
        ax.set_xticks(ticks, [str(v) for v in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.legend(fontsize=8)
    fig.suptitle(f"UMID vs {xlabel}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@click.command("umid-ablation")
@click.option("--target", "-t", default="clip-micro-vit", help="Target spec (trained here; its null control is added).")
@click.option("--dataset", "-d", default="pii-faces", help="Dataset spec.")
@click.option("--seed", "seeds", multiple=True, type=int, default=DEV_SEEDS, show_default=True,
              help="Run seeds (repeat the option): development seeds (>= 100), since this ablation chooses "
                   "UMID's defaults.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("leaderboards/umid"), help="Output folder.")
@click.option("--cache", type=click.Path(path_type=Path), default=None, help="Cache folder.")
@click.option("--variant", "variants", multiple=True,
              help="Re-check only this row (repeat the option), e.g. \"space lowres:8\": the default, the named rows, "
                   "the text-kNN baseline and the null control, without the sweeps. Default: every row and sweep.")
def umid_ablation(target, dataset, seeds, out, cache, variants) -> None:
    """Measure every UMID variant (features, decisions, detectors, spaces, references, K and steps
    sweeps) on each seed, and aggregate the seeds."""
    pick_variants(variants)  # a typo fails here, before any model trains
    per_seed = [run_ablation(target, dataset, seed, cache, variants) for seed in sorted(set(seeds))]
    write_report(aggregate_ablation(per_seed), out, per_seed)
    click.echo((out / "ablation.md").read_text())
    click.echo(json.dumps({"written": str(out)}))
