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


def collect(records: list[CellRecord], out_dir: Path | None = None) -> list[dict]:
    """One row per attack cell; with ``out_dir``, each row's empirical epsilon bound from its saved scores."""
    rows = []
    for rec in records:
        if not rec.ok or rec.target is None or rec.cell.is_control or rec.metrics is None:
            continue
        util, cell, m = rec.target.utility, rec.cell, rec.metrics
        dp = rec.target.info.get("dp") or {}
        rows.append({
            "attack": cell.attack, "unit": cell.unit, "defense": cell.defense,
            "family": cell.defense.partition("?")[0], "epoch": rec.target.info.get("epoch"),
            "auc": m.auc, "auc_ci": list(m.auc_ci), "tpr_at_1fpr": m.tpr_at_1fpr,
            "dp_epsilon": dp.get("epsilon"), "dp_delta": dp.get("delta"),
            **_audit(out_dir, rec.key, dp.get("delta") or AUDIT_DELTA, cell.seed),
            **{k: util.get(k) for k in UTILITY_KEYS},
        })
    return sorted(rows, key=lambda r: (r["family"], r["attack"], r["unit"], r["epoch"] or 0, r["defense"]))


def _audit(out_dir: Path | None, key: str, delta: float, seed: int) -> dict:
    if out_dir is None:
        return {"eps_lb": None}
    from .dp_audit import epsilon_lower_bound
    from .results import load_scores

    try:
        z = load_scores(out_dir, key)
    except (OSError, KeyError):  # a record without its score file: no bound rather than a wrong one
        return {"eps_lb": None}
    return {"eps_lb": epsilon_lower_bound(z["scores"], z["labels"], delta=delta, seed=seed)["eps_lb"]}


def _eps(r: dict) -> str:
    if r["family"] != "dp-sgd":
        return "-"
    return "inf" if r["dp_epsilon"] is None else f"{r['dp_epsilon']:.2f}"


def to_markdown(rows: list[dict]) -> str:
    lines = ["| defense | attack | unit | accountant eps | eps_lb (95%) | AUC [95% CI] | TPR@1% | zero-shot id | "
             "retrieval R@1 | kNN id |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        tpr = "n/r" if r["tpr_at_1fpr"] is None else f"{r['tpr_at_1fpr']:.2f}"
        lines.append(f"| {defense_label(r['defense'])} | {r['attack']} | {r['unit']} | {_eps(r)} | "
                     f"{_f(r.get('eps_lb'), 2)} | {r['auc']:.3f} "
                     f"[{r['auc_ci'][0]:.2f}, {r['auc_ci'][1]:.2f}] | {tpr} | "
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
    note = (f"Results of `{out_dir}`. Regenerate with `mia-bench run --suite SUITE --out {out_dir}` then "
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
    if rows:
        plot(rows, out_dir / "plots" / "privacy_utility.png")
        plot_epsilon(rows, out_dir / "plots" / "privacy_epsilon.png")
    return rows
