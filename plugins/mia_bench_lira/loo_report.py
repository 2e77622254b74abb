"""Tables and plots of ``mia-bench lira-loo``: the full-pool leave-one-out (loo.md, loo_roc.png)
and the shadow-count sweep (sweep.md, sweep.png)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

HEADER = ("| attack | AUC [95% CI] | TPR@1%FPR | TPR@0.1%FPR | members | non-members |",
          "|---|---|---|---|---|---|")


def _ci(r: dict, k: str) -> str:
    if r.get(k) is None:
        return "n/r"
    lo, hi = r[f"{k}_ci"]
    return f"{r[k]:.3f} [{lo:.3f}, {hi:.3f}]"


def _row(r: dict, first: str) -> str:
    if "error" in r:
        return f"| {first} | n/a: {r['error'][:90]} | | | | |"
    return (f"| {first} | {_ci(r, 'auc')} | {_ci(r, 'tpr_at_1fpr')} | {_ci(r, 'tpr_at_01fpr')} | "
            f"{r['n_members']} | {r['n_nonmembers']} |")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _command(report: dict, sweep: str | None = None) -> str:
    parts = [f"mia-bench lira-loo --n-shadows {report['n_shadows']}"]
    if report["splits"] != "paired":
        parts.append(f"--splits {report['splits']}")
    if sweep:
        parts.append(f"--sweep {sweep}")
    return " ".join(parts)


def _setup(report: dict) -> str:
    partner = (" (a paired pool: model 2k+1 trained on the complement of model 2k's half, and a target's partner "
               "is never its shadow)" if report["splits"] == "paired" else " (independent balanced masks)")
    rmia = report.get("rmia")
    rmia_text = (f" RMIA: gamma {rmia['gamma']}, offline a {rmia['a']}, z = the pool's population pairs that are OUT "
                 "for the target." if rmia else "")
    return (f"Target recipe `{report['target']}` on `{report['dataset']}` (seed {report['seed']}): "
            f"{report['n_shadows']} models trained on balanced random halves of a pool of {report['pool_size']} pairs "
            f"(the pair-level challenge plus the attacker's population data){partner}. Statistic "
            f"`{report['statistic']}`, queries `{report['queries']}`.{rmia_text} CIs: cluster bootstrap over "
            "identities.")


def write_loo(report: dict, curves: dict, out: Path, suffix: str = "") -> Path:
    from mia_bench.cache import atomic_write_json, atomic_write_text
    from mia_bench.metrics import roc_points_for_plot

    plt = _plt()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / f"loo{suffix}.json", report)
    fig, ax = plt.subplots(figsize=(6.2, 5))
    floor = 1.0
    for label, (s, y) in curves.items():
        f, t = roc_points_for_plot(s, y.astype(bool))
        floor = min(floor, float(f.min()))
        ax.plot(f, t, "--" if ("global" in label or "rmia" in label) else "-", lw=1.3, label=label)
    grid = np.logspace(np.log10(floor), 0, 50)
    ax.plot(grid, grid, ":", color="grey", lw=1, label="chance")
    ax.set(xscale="log", yscale="log", xlim=(floor, 1), ylim=(floor, 1.02), xlabel="false positive rate",
           ylabel="true positive rate",
           title=f"Leave-one-out, {report['n_shadows']} models, {report['shadows_per_target']} shadows each")
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / f"loo_roc{suffix}.png", dpi=110)
    plt.close(fig)
    rows = list(HEADER) + [_row(r, r["attack"]) for r in report["results"]]
    text = (f"# LiRA and RMIA, leave-one-out\n\n{_setup(report)} Each model in turn is the target and "
            f"{report['shadows_per_target']} others its shadows. Regenerate: `{_command(report)}`.\n\n"
            + "\n".join(rows) + f"\n\n![roc](loo_roc{suffix}.png)\n")
    atomic_write_text(out / f"loo{suffix}.md", text)
    return out / f"loo{suffix}.md"


def write_sweep(report: dict, rows: list[dict], out: Path, suffix: str, sweep: str) -> Path:
    """The shadow-count sweep: a table (attack x shadows) and AUC / TPR@0.1%FPR against shadows."""
    from mia_bench.cache import atomic_write_json, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / f"sweep{suffix}.json", {**{k: v for k, v in report.items() if k != "results"},
                                                    "sweep": rows})
    _plot_sweep(rows, out / f"sweep{suffix}.png", report)
    table = ["| attack | shadows | AUC [95% CI] | TPR@1%FPR | TPR@0.1%FPR | members | non-members |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["attack"], r["shadows"])):
        table.append(_row(r, f"{r['attack']} | {r['shadows']}"))
    text = (f"# LiRA and RMIA against the number of shadow models (leave-one-out)\n\n{_setup(report)} Each model in "
            "turn is the target; with k shadows it uses k of the others (in a paired pool, the k/2 pairs after its "
            f"own), so every row below has {report['rows']} scored rows. Regenerate: "
            f"`{_command(report, sweep)}`.\n\n" + "\n".join(table) + f"\n\n![sweep](sweep{suffix}.png)\n")
    atomic_write_text(out / f"sweep{suffix}.md", text)
    atomic_write_text(out / f"sweep_summary{suffix}.md", sweep_summary(report, rows, sweep))
    return out / f"sweep{suffix}.md"


def sweep_summary(report: dict, rows: list[dict], sweep: str) -> str:
    """The sweep as one row per attack and one column per shadow count (AUC / TPR at 0.1%
    FPR): the short form the README includes; ``sweep.md`` has the CIs."""
    sizes = sorted({r["shadows"] for r in rows})
    by = {(r["attack"], r["shadows"]): r for r in rows}
    suffix = "" if report["splits"] == "paired" else f"-{report['splits']}"

    def cell(r: dict | None) -> str:
        if r is None or "error" in r:
            return "error" if r else ""
        tpr = "n/r" if r.get("tpr_at_01fpr") is None else f"{r['tpr_at_01fpr']:.3f}"
        return f"{r['auc']:.3f} / {tpr}"

    lines = ["# LiRA and RMIA against the number of shadow models", "",
             f"Leave-one-out on a pool of {report['n_shadows']} `{report['target']}` models ({report['splits']} keep "
             f"masks) on `{report['dataset']}` (seed {report['seed']}), {report['rows']} scored rows per cell: AUC / TPR at 0.1% "
             f"FPR for k shadow models per target. CIs: sweep{suffix}.md. Regenerate: `{_command(report, sweep)}`.", "",
             "| attack | " + " | ".join(f"{k} shadows" for k in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for label in dict.fromkeys(r["attack"] for r in sorted(rows, key=lambda r: r["attack"])):
        lines.append(f"| {label} | " + " | ".join(cell(by.get((label, k))) for k in sizes) + " |")
    return "\n".join(lines) + "\n"


def _plot_sweep(rows: list[dict], path: Path, report: dict) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for label in dict.fromkeys(r["attack"] for r in rows):
        mine = sorted((r for r in rows if r["attack"] == label and "error" not in r), key=lambda r: r["shadows"])
        if not mine:
            continue
        k = [r["shadows"] for r in mine]
        style = "--" if ("global" in label or "rmia" in label) else "-"
        for ax, key in zip(axes, ("auc", "tpr_at_01fpr")):
            y = np.array([r[key] if r[key] is not None else np.nan for r in mine], dtype=float)
            lo = np.array([r[f"{key}_ci"][0] if r[key] is not None else np.nan for r in mine], dtype=float)
            hi = np.array([r[f"{key}_ci"][1] if r[key] is not None else np.nan for r in mine], dtype=float)
            ax.errorbar(k, y, yerr=[y - lo, hi - y], fmt=style, marker="o", ms=3, lw=1.2, capsize=2, label=label)
    for ax, title in zip(axes, ("AUC", "TPR at 0.1% FPR")):
        ax.set(xscale="log", xlabel="shadow models per target", ylabel=title, title=title)
        ax.set_xticks(sorted({r["shadows"] for r in rows}))
        ax.get_xaxis().set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
        ax.grid(True, which="both", alpha=0.2)
    axes[1].legend(fontsize=7, loc="best")
    fig.suptitle(f"{report['target']} on {report['dataset']}, {report['splits']} pool of {report['n_shadows']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
