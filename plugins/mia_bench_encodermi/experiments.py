"""``mia-bench encodermi-table``: the EncoderMI paper's experiments on the embedded benchmark.

1. the 8 background-knowledge settings x {V, S, T}, on the target and its null control;
2. accuracy vs the target's pre-training set size (background pairs added or removed);
3. accuracy vs the number of augmented views n.

Everything runs through the ordinary runner, so targets, shadow encoders and shadow
features come from the cache on a second run (which trains nothing) and runs resume.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from .shadow import SETTINGS, setting_label

VARIANTS = ("encodermi-v", "encodermi-s", "encodermi-t")
SIZES = (0, 1000, 2000, 4000)  # background pairs in the world; half are trained on
VIEWS = (2, 4, 6, 10, 16, 24)


def setting_spec(variant: str, know: tuple[bool, bool, bool], n_views: int | None = None) -> str:
    d, a, t = know
    opts = [f"know_data={str(d).lower()}", f"know_arch={str(a).lower()}", f"know_algorithm={str(t).lower()}"]
    if n_views is not None:
        opts.append(f"n_views={n_views}")
    return f"{variant}?" + "&".join(opts)


def _run(out: Path, attacks: list[str], targets: list[str], datasets: list[str], seed: int, progress: bool,
         rerun: bool = False) -> list[dict]:
    from mia_bench.cache import Cache
    from mia_bench.plan import build_plan
    from mia_bench.results import load_records
    from mia_bench.runner import RunConfig, Runner

    plan = build_plan(attacks, targets, datasets, None, [seed])
    Runner(plan, RunConfig(out, Cache(), progress=progress, rerun=rerun)).run()
    cells = {c.key(plan.attack(c).version): c for c in plan.cells}
    points = []
    for rec in load_records(out):
        cell = cells.get(rec.get("key"))
        if cell is None or rec.get("status") != "ok":
            continue
        m = rec["metrics"]
        points.append({
            "variant": cell.attack.name, "options": dict(cell.attack.options), "control": cell.control,
            "dataset": str(cell.dataset), "accuracy": m.get("decision_accuracy"), "precision": m.get("precision"),
            "recall": m.get("recall"), "auc": m["auc"], "auc_ci": m["auc_ci"], "tpr_at_1fpr": m.get("tpr_at_1fpr"),
            "balanced_accuracy_ci": m.get("balanced_accuracy_ci"), "info": rec.get("info", {}),
        })
    return points


def run_experiments(out: Path, target: str, seed: int, progress: bool = True, rerun: bool = False) -> dict:
    settings = _run(out / "run-settings", [setting_spec(v, k) for v in VARIANTS for k in SETTINGS],
                    [target, f"{target}?control=null"], ["pii-faces"], seed, progress, rerun)
    sizes = _run(out / "run-sizes", list(VARIANTS), [target], [f"pii-faces?n_background={n}" for n in SIZES],
                 seed, progress, rerun)
    views = _run(out / "run-views", [f"{v}?n_views={n}" for v in VARIANTS for n in VIEWS], [target], ["pii-faces"],
                 seed, progress, rerun)
    return {"target": target, "seed": seed, "settings": settings, "sizes": sizes, "views": views}


def _fmt(x, digits=2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _auc(p: dict) -> str:
    return f"{p['auc']:.2f} [{p['auc_ci'][0]:.2f}, {p['auc_ci'][1]:.2f}]"


def settings_table(points: list[dict]) -> str:
    rows = ["| data | arch | algorithm | variant | acc | prec | recall | AUC [95% CI] | TPR@1%FPR | null-target AUC "
            "| shadow held-out acc |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for know in SETTINGS:
        for variant in VARIANTS:
            def pick(control):
                return next((p for p in points if p["variant"] == variant and p["control"] == control
                             and (p["options"].get("know_data"), p["options"].get("know_arch"),
                                  p["options"].get("know_algorithm")) == know), None)

            p, null = pick("none"), pick("null")
            if p is None:
                continue
            marks = ["✓" if k else "✗" for k in know]
            rows.append(f"| {' | '.join(marks)} | {variant[-1].upper()} | {_fmt(p['accuracy'])} | "
                        f"{_fmt(p['precision'])} | {_fmt(p['recall'])} | {_auc(p)} | {_fmt(p['tpr_at_1fpr'], 3)} | "
                        f"{_auc(null) if null else '–'} | {_fmt(p['info'].get('shadow_cv_accuracy'))} |")
    return "\n".join(rows)


def _sweep_value(p: dict, kind: str) -> int:
    if kind == "sizes":
        return int(p["info"].get("target_train_pairs") or _background(p["dataset"]))
    return int(p["options"].get("n_views", 10))


def _background(dataset: str) -> int:
    from mia_bench.registry import ComponentSpec

    return int(ComponentSpec.parse(dataset).options.get("n_background", 2000))


def sweep_table(points: list[dict], kind: str, label: str) -> str:
    xs = sorted({_sweep_value(p, kind) for p in points})
    rows = [f"| variant | " + " | ".join(f"{label}={x}" for x in xs) + " |", "|---|" + "---|" * len(xs)]
    for variant in VARIANTS:
        cells = []
        for x in xs:
            p = next((p for p in points if p["variant"] == variant and _sweep_value(p, kind) == x), None)
            cells.append("" if p is None else f"acc {_fmt(p['accuracy'])}, AUC {_auc(p)}")
        rows.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def plot_sweeps(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, kind, xlabel in ((axes[0], "sizes", "background pairs in the world (half trained on)"),
                             (axes[1], "views", "augmented views n")):
        for variant in VARIANTS:
            pts = sorted((p for p in results[kind] if p["variant"] == variant), key=lambda p: _sweep_value(p, kind))
            if not pts:
                continue
            x = np.array([_sweep_value(p, kind) for p in pts])
            y = np.array([p["auc"] for p in pts])
            err = np.abs(np.array([p["auc_ci"] for p in pts]).T - y)
            ax.errorbar(x, y, yerr=err, fmt="o-", capsize=3, label=variant)
        ax.axhline(0.5, color="grey", ls=":", lw=1)
        ax.set(xlabel=xlabel, ylabel="AUC (95% CI)")
        ax.legend(fontsize=8)
    axes[0].set_title("vs pre-training set size")
    axes[1].set_title("vs number of views")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: dict, out: Path) -> Path:
    from mia_bench.cache import atomic_write_json, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    slim = {k: v if not isinstance(v, list) else [{kk: vv for kk, vv in p.items() if kk != "info"} | {
        "shadow": {k2: p["info"].get(k2) for k2 in ("setting", "shadow_arch", "shadow_algorithm", "shadow_data",
                                                    "shadow_train_accuracy", "shadow_cv_accuracy")}} for p in v]
            for k, v in results.items()}
    atomic_write_json(out / "encodermi.json", slim)
    plot_sweeps(results, out / "sweeps.png")
    size_x = sorted({_sweep_value(p, 'sizes') for p in results["sizes"]})
    text = f"""# EncoderMI on the embedded benchmark

Target `{results['target']}` on `pii-faces` (pair level: 500 member photos of 100 member identities vs
500 photos of 100 non-member identities), seed {results['seed']}. Accuracy, precision and recall are
those of each classifier's own decisions (balanced challenge set); AUC with a 95% cluster-bootstrap CI
over identities. Known dimensions (✓) copy the target's; unknown ones (✗) use `pii-avatars` data, the
`mia-micro-rn` architecture, SimCLR training. Regenerate: `mia-bench encodermi-table` (shadow encoders
and targets come from the cache on a second run, which trains nothing).

## Background knowledge: 8 settings

{settings_table(results['settings'])}

## Pre-training set size

Background pairs in the world: {', '.join(map(str, size_x))} (half are trained on, plus 500 member photos).

{sweep_table(results['sizes'], 'sizes', 'bg')}

## Number of augmented views

{sweep_table(results['views'], 'views', 'n')}

![sweeps](sweeps.png)
"""
    atomic_write_text(out / "encodermi.md", text)
    return out / "encodermi.md"


@click.command("encodermi-table")
@click.option("--target", "-t", default="clip-micro-vit", help="Target spec (trained here, so shadows can copy it).")
@click.option("--seed", default=0, type=int)
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("leaderboards/encodermi"))
@click.option("--no-progress", is_flag=True)
@click.option("--rerun", is_flag=True, help="Recompute cells already on disk (cached models are still reused).")
def encodermi_table(target, seed, out, no_progress, rerun) -> None:
    """EncoderMI-V/S/T under the 8 background-knowledge settings, and its size and n sweeps."""
    results = run_experiments(out, target, seed, progress=not no_progress, rerun=rerun)
    click.echo(write_report(results, out).read_text())
