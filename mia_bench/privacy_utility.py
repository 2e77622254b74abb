"""Privacy-utility report: for each defense setting, each attack's AUC and TPR@1%FPR next to
the target's utility, as a table and as plots (one panel per defense, one curve per attack).

Every row also carries the accountant's epsilon of a DP-SGD target (at the released epoch;
none for other defenses) and the empirical epsilon lower bound the attack's scores imply
(:mod:`mia_bench.dp_audit`, a 95% Clopper-Pearson bound with the threshold chosen on half
the data), at the DP row's delta or ``AUDIT_DELTA`` for the others.
"""

from __future__ import annotations

from pathlib import Path

from .cache import atomic_write_json, atomic_write_text
from .leaderboard import defense_label
from .records import CellRecord

UTILITY_KEYS = ("zero_shot_identification", "retrieval_recall_at_1", "knn_identification")
AUDIT_DELTA = 1e-5  # the delta of the empirical bound for rows without a DP guarantee (dp-sgd's default)


def collect(records: list[CellRecord], out_dir: Path | None = None, n_boot: int = 1000) -> list[dict]:
    """One row per (attack, unit, defense) over all seeds of the run.

    AUC: the seeds' mean with the leaderboard's two-level bootstrap CI (with ``out_dir``, from
    the saved scores; else the mean of the records' AUCs and the one seed's CI); TPR@1%: on the
    pooled scores. Utility: the mean over seeds. eps_lb: the empirical bound on the pooled scores
    of all seeds (each seed's model is an independent run of the same training, so its examples
    are further trials of the same mechanism). accountant eps: the DP targets' (equal across seeds).
    """
    groups: dict[tuple, list[CellRecord]] = {}
    for rec in records:
        if not rec.ok or rec.target is None or rec.cell.is_control or rec.metrics is None:
            continue
        groups.setdefault((rec.cell.attack, rec.cell.unit, rec.cell.defense), []).append(rec)
    rows = []
    for (attack, unit, defense), recs in groups.items():
        recs = sorted(recs, key=lambda r: r.cell.seed)
        dps = [r.target.info.get("dp") or {} for r in recs if r.target is not None]
        epsilons = [d["epsilon"] for d in dps if d.get("epsilon") is not None]
        delta = next((d["delta"] for d in dps if d.get("delta")), None)
        row = {"attack": attack, "unit": unit, "defense": defense, "family": defense.partition("?")[0],
               "epoch": recs[0].target.info.get("epoch") if recs[0].target else None,
               "seeds": [r.cell.seed for r in recs], "dp_epsilon": max(epsilons) if epsilons else None,
               "dp_delta": delta, **_utility(recs)}
        row.update(_scores_summary(recs, out_dir, delta or AUDIT_DELTA, n_boot))
        rows.append(row)
    return sorted(rows, key=lambda r: (r["family"], r["attack"], r["unit"], r["epoch"] or 0, r["defense"]))


def _utility(recs: list[CellRecord]) -> dict:
    out = {}
    for k in UTILITY_KEYS:
        values = [float(v) for r in recs if r.target is not None and (v := r.target.utility.get(k)) is not None]
        out[k] = sum(values) / len(values) if values else None
    return out


def _scores_summary(recs: list[CellRecord], out_dir: Path | None, delta: float, n_boot: int) -> dict:
    metrics = [r.metrics for r in recs if r.metrics is not None]
    one = metrics[0] if len(metrics) == 1 else None  # a one-seed row keeps its own CI without the scores
    fallback = {"auc": sum(m.auc for m in metrics) / len(metrics), "auc_ci": list(one.auc_ci) if one else [None, None],
                "auc_sd": None, "tpr_at_1fpr": one.tpr_at_1fpr if one else None, "eps_lb": None}
    if out_dir is None:
        return fallback
    import numpy as np

    from .aggregate import aggregate_seeds
    from .dp_audit import epsilon_lower_bound
    from .leaderboard import seed_scores
    from .records import RecordError

    try:
        seeds = [seed_scores(r, out_dir)[0] for r in recs]
    except (RecordError, OSError, KeyError):  # a record without its score file: no bound rather than a wrong one
        return fallback
    agg = aggregate_seeds(seeds, n_boot=n_boot)
    scores = np.concatenate([s.scores for s in seeds])
    labels = np.concatenate([s.labels for s in seeds])
    bound = epsilon_lower_bound(scores, labels, delta=delta, seed=recs[0].cell.seed)
    return {"auc": agg.auc_mean, "auc_ci": list(agg.auc_ci), "auc_sd": agg.auc_sd,
            "tpr_at_1fpr": agg.tpr_1.tpr if agg.tpr_1 else None, "eps_lb": bound["eps_lb"]}


def _eps(r: dict) -> str:
    if r["family"] != "dp-sgd":
        return "-"
    return "inf" if r["dp_epsilon"] is None else f"{r['dp_epsilon']:.2f}"


def to_markdown(rows: list[dict]) -> str:
    lines = ["| defense | attack | unit | seeds | accountant eps | eps_lb (95%) | AUC [95% CI] | TPR@1% | "
             "zero-shot id | retrieval R@1 | kNN id |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        tpr = "n/r" if r["tpr_at_1fpr"] is None else f"{r['tpr_at_1fpr']:.2f}"
        lo, hi = r["auc_ci"]
        ci = "" if lo is None else f" [{lo:.2f}, {hi:.2f}]"
        lines.append(f"| {defense_label(r['defense'])} | {r['attack']} | {r['unit']} | "
                     f"{','.join(map(str, r.get('seeds', [])))} | {_eps(r)} | "
                     f"{_f(r.get('eps_lb'), 2)} | {r['auc']:.3f}{ci} | {tpr} | "
                     f"{_f(r['zero_shot_identification'])} | {_f(r['retrieval_recall_at_1'])} | "
                     f"{_f(r['knn_identification'])} |")
    return "\n".join(lines)


def _f(x, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def plot(rows: list[dict], path: Path, utility: str | None = None) -> Path:
    """One panel per defense family; x = ``utility`` (default: zero-shot identification when the
    targets have a text encoder, else kNN identification)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    utility = utility or next((k for k in UTILITY_KEYS if any(r[k] is not None for r in rows)), UTILITY_KEYS[0])
    families = sorted({r["family"] for r in rows} - {"none"}) or ["none"]
    fig, axes = plt.subplots(1, len(families), figsize=(4.6 * len(families), 3.8), squeeze=False)
    for ax, family in zip(axes.ravel(), families):
        for attack, unit in sorted({(r["attack"], r["unit"]) for r in rows}):
            pts = [r for r in rows if (r["family"] in (family, "none")) and r["attack"] == attack and r["unit"] == unit
                   and r[utility] is not None]
            if len(pts) < 2:
                continue
            pts.sort(key=lambda r: r[utility])
            ax.plot([p[utility] for p in pts], [p["auc"] for p in pts], "o-", label=f"{attack} ({unit})")
            for p in pts:
                ax.annotate(defense_label(p["defense"]).replace(family, "").strip("()") or "none",
                            (p[utility], p["auc"]), fontsize=6, alpha=0.7)
        ax.axhline(0.5, color="grey", ls=":", lw=1)
        ax.set(title=f"defense: {family}", xlabel=utility.replace("_", " "), ylabel="attack AUC")
        ax.legend(fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_epsilon(rows: list[dict], path: Path) -> Path | None:
    """Per attack row: the empirical 95% epsilon lower bound (bar) and, for DP rows, the
    accountant's epsilon (marker), so a bound above its guarantee would stand out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("eps_lb") is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(max(5.0, 0.32 * len(rows)), 3.8))
    xs = range(len(rows))
    ax.bar(xs, [r["eps_lb"] for r in rows], color="tab:blue", label="empirical eps lower bound (95%)")
    dp = [(i, r["dp_epsilon"]) for i, r in enumerate(rows) if r["family"] == "dp-sgd" and r["dp_epsilon"] is not None]
    if dp:
        ax.plot([i for i, _ in dp], [e for _, e in dp], "r_", ms=14, mew=2, ls="none", label="accountant eps")
    ax.set_xticks(list(xs), [f"{defense_label(r['defense'])} | {r['attack']} ({r['unit']})" for r in rows],
                  rotation=75, ha="right", fontsize=6)
    ax.set(ylabel="epsilon")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(out_dir: Path, records: list[CellRecord]) -> list[dict]:
    rows = collect(records, out_dir)
    atomic_write_json(out_dir / "privacy_utility.json", rows)
    note = (f"Results of `{out_dir}`, one row per defense and attack over all seeds (AUC: the seeds' mean, two-level "
            "bootstrap 95% CI; TPR and eps_lb on the pooled scores; utility: the seeds' mean).\n\n"
            f"Regenerate with `mia-bench run --suite SUITE --out {out_dir}` then "
            f"`mia-bench privacy-utility --out {out_dir}`. Utility: zero-shot identification of held-out photos "
            "among the member names, image-to-caption recall@1 among held-out background pairs, and kNN identification "
            "(each held-out photo of a member named by its nearest trained photo; needs no text encoder).\n\n"
            "accountant eps: a dp-sgd target's epsilon at its delta for the released epoch (for pairs; CLIP's "
            "contrastive loss couples a batch's pairs, so it is the clipped unit's epsilon, not a formal guarantee: "
            "see mia_bench_defenses.dp_sgd). eps_lb: the 95% lower bound on epsilon that the attack's scores "
            f"imply (Clopper-Pearson, threshold chosen on half the data; delta = the row's, else {AUDIT_DELTA:g}); "
            "on identity-level rows compare it with group privacy over the person's pairs.\n\n")
    atomic_write_text(out_dir / "privacy_utility.md", "# Privacy vs utility\n\n" + note + to_markdown(rows) +
                      "\n\n![privacy-utility](plots/privacy_utility.png)\n\n"
                      "![epsilon](plots/privacy_epsilon.png)\n")
    atomic_write_text(out_dir / "privacy_utility_table.md", "# Privacy vs utility (table)\n\n" + to_markdown(rows) + "\n\n"
                      f"From `{out_dir}/privacy_utility.md` (regenerate: `mia-bench privacy-utility --out {out_dir}`); "
                      "AUC: seeds' mean, two-level bootstrap 95% CI; eps_lb: empirical 95% lower bound on the pooled "
                      "scores; accountant eps: the DP target's epsilon at its delta.\n")
    if rows:
        plot(rows, out_dir / "plots" / "privacy_utility.png")
        plot_epsilon(rows, out_dir / "plots" / "privacy_epsilon.png")
    return rows
