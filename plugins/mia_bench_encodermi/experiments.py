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

from .shadow import SETTINGS

VARIANTS = ("encodermi-v", "encodermi-s", "encodermi-t")
VIEWS = (2, 4, 6, 10, 16, 24)

# Two targets: the suite's default CLIP, and EncoderMI's native setting (an image encoder
# pre-trained SimCLR-style, many epochs on a small set), where the paper's premise holds.
BLOCKS = {
    "clip": {
        "title": "Default target: CLIP image-text training",
        "target": "{target}",
        "dataset": "pii-faces",
        "sizes": ("pii-faces?n_background=0", "pii-faces?n_background=1000", "pii-faces?n_background=2000",
                  "pii-faces?n_background=4000"),
        "attack_options": "",
        "about": "pair level: 500 member photos of 100 member identities vs 500 photos of 100 non-member identities; "
                 "target recipe: 30 epochs, batch 128, crop augmentation; the attacker's views are its shadow's "
                 "training augmentation (crop; SimCLR's crop, flip, brightness/contrast for SimCLR shadows)",
    },
    "simclr": {
        "title": "EncoderMI's native setting: a SimCLR-trained image encoder",
        "target": "clip-micro-vit?algorithm=simclr&epochs=300&batch_size=64&checkpoint_every=10",
        "dataset": "pii-faces-small?n_background=0",
        "sizes": ("pii-faces-small?n_background=0", "pii-faces-small?n_background=200",
                  "pii-faces-small?n_background=800"),
        "attack_options": '&ops=["crop","flip"]',
        "about": "the image tower of the micro ViT trained with SimCLR's NT-Xent loss (crop, flip, brightness/contrast "
                 "views) for 300 epochs, batch 64, on the member photos of pii-faces-small (200 photos of 50 "
                 "identities) vs 200 photos of 50 non-member identities; the attacker's views are a fixed crop + flip "
                 "(ops, views=fixed)",
    },
}


def setting_spec(variant: str, know: tuple[bool, bool, bool], extra: str = "") -> str:
    d, a, t = know
    opts = [f"know_data={str(d).lower()}", f"know_arch={str(a).lower()}", f"know_algorithm={str(t).lower()}"]
    return f"{variant}?" + "&".join(opts) + extra


def _run(out: Path, attacks: list[str], targets: list[str], datasets: list[str], seed: int, progress: bool,
         rerun: bool = False) -> list[dict]:
    from mia_bench.api import run
    from mia_bench.registry import ComponentSpec

    points = []
    for rec in run(attacks, targets, datasets, out=out, seeds=[seed], progress=progress, rerun=rerun):
        if not rec.ok or rec.metrics is None:
            continue
        spec, m = ComponentSpec.parse(rec.cell.attack), rec.metrics
        points.append({
            "variant": spec.name, "options": dict(spec.options), "control": rec.cell.control,
            "dataset": rec.cell.dataset, "accuracy": m.decision_accuracy, "precision": m.precision,
            "recall": m.recall, "auc": m.auc, "auc_ci": list(m.auc_ci), "tpr_at_1fpr": m.tpr_at_1fpr,
            "balanced_accuracy_ci": list(m.balanced_accuracy_ci), "info": rec.info,
            "train_pairs": ((rec.target.info if rec.target else {}).get("training") or {}).get("train_pairs"),
        })
    return points


def run_block(out: Path, block: dict, target: str, seed: int, progress: bool, rerun: bool) -> dict:
    tgt = block["target"].format(target=target)
    extra = block["attack_options"]
    settings = _run(out / "run-settings", [setting_spec(v, k, extra) for v in VARIANTS for k in SETTINGS],
                    [tgt, f"{tgt}?control=null" if "?" not in tgt else f"{tgt}&control=null"], [block["dataset"]],
                    seed, progress, rerun)
    sizes = _run(out / "run-sizes", [v + ("?" + extra[1:] if extra else "") for v in VARIANTS], [tgt],
                 list(block["sizes"]), seed, progress, rerun)
    views = _run(out / "run-views", [f"{v}?n_views={n}{extra}" for v in VARIANTS for n in VIEWS], [tgt],
                 [block["dataset"]], seed, progress, rerun)
    return {"target": tgt, "dataset": block["dataset"], "settings": settings, "sizes": sizes, "views": views}


def run_experiments(out: Path, target: str, seed: int, progress: bool = True, rerun: bool = False) -> dict:
    blocks = {}
    for name, block in BLOCKS.items():
        sub = out if name == "clip" else out / name
        blocks[name] = run_block(sub, block, target, seed, progress, rerun)
    return {"seed": seed, "blocks": blocks}


def _fmt(x, digits=2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _auc(p: dict) -> str:
    return f"{p['auc']:.2f} [{p['auc_ci'][0]:.2f}, {p['auc_ci'][1]:.2f}]"


def settings_table(points: list[dict]) -> str:
    rows = ["| data | arch | algorithm | variant | acc | prec | recall | AUC [95% CI] | TPR@1%FPR | null-target AUC "
            "| shadow held-out acc |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for know in SETTINGS:
        for variant in VARIANTS:
            def pick(control, variant=variant, know=know):
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
        return int(p["train_pairs"] or 0)
    return int(p["options"].get("n_views", 10))


def knowledge_trend(points: list[dict]) -> str:
    """Mean AUC over variants and settings with 0, 1, 2, 3 known dimensions (the paper's trend)."""
    by_known: dict[int, list[float]] = {}
    for p in points:
        if p["control"] == "none":
            k = sum(bool(p["options"].get(f"know_{d}")) for d in ("data", "arch", "algorithm"))
            by_known.setdefault(k, []).append(p["auc"])
    cells = [f"{k} known: {np.mean(v):.3f} ({len(v)} rows)" for k, v in sorted(by_known.items())]
    return "Mean AUC by number of known dimensions: " + "; ".join(cells) + "."


def sweep_table(points: list[dict], kind: str, label: str) -> str:
    xs = sorted({_sweep_value(p, kind) for p in points})
    rows = ["| variant | " + " | ".join(f"{label}={x}" for x in xs) + " |", "|---|" + "---|" * len(xs)]
    for variant in VARIANTS:
        cells = []
        for x in xs:
            p = next((p for p in points if p["variant"] == variant and _sweep_value(p, kind) == x), None)
            cells.append("" if p is None else f"acc {_fmt(p['accuracy'])}, AUC {_auc(p)}")
        rows.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def plot_sweeps(block: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, kind, xlabel in ((axes[0], "sizes", "target pre-training set (pairs)"), (axes[1], "views", "augmented views n")):
        for variant in VARIANTS:
            pts = sorted((p for p in block[kind] if p["variant"] == variant), key=lambda p: _sweep_value(p, kind))
            if not pts:
                continue
            x = np.array([_sweep_value(p, kind) for p in pts])
            y = np.array([p["auc"] for p in pts])
            err = np.abs(np.array([p["auc_ci"] for p in pts]).T - y)
            ax.errorbar(x, y, yerr=err, fmt="o-", capsize=3, label=variant)
        ax.axhline(0.5, color="grey", ls=":", lw=1)
        ax.set(xlabel=xlabel, ylabel="AUC (95% CI)")
        ax.legend(fontsize=8)
    axes[0].set_title(f"vs pre-training set size ({block['target'].split('?')[0]})")
    axes[1].set_title("vs number of views")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _slim(points: list[dict]) -> list[dict]:
    keep = ("setting", "shadow_arch", "shadow_algorithm", "shadow_data", "shadow_train_accuracy", "shadow_cv_accuracy")
    return [{k: v for k, v in p.items() if k != "info"} | {"shadow": {k: p["info"].get(k) for k in keep}}
            for p in points]


def block_section(name: str, block: dict, spec: dict) -> str:
    return f"""## {spec['title']}

Target `{block['target']}` on `{block['dataset']}`: {spec['about']}.

### Background knowledge: 8 settings

{settings_table(block['settings'])}

{knowledge_trend(block['settings'])}

### Pre-training set size (background pairs added to the target's training set)

{sweep_table(block['sizes'], 'sizes', 'pairs')}

### Number of augmented views (full knowledge)

{sweep_table(block['views'], 'views', 'n')}

![sweeps](sweeps-{name}.png)
"""


def write_report(results: dict, out: Path) -> Path:
    from mia_bench.cache import atomic_write_json, atomic_write_text
    from mia_bench.results import environment

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "encodermi.json", {"seed": results["seed"], "blocks": {
        name: {**{k: v for k, v in b.items() if not isinstance(v, list)},
               **{k: _slim(v) for k, v in b.items() if isinstance(v, list)}} for name, b in results["blocks"].items()},
        "environment": environment()})  # the provenance block every cell record carries
    sections = []
    for name, block in results["blocks"].items():
        plot_sweeps(block, out / f"sweeps-{name}.png")
        sections.append(block_section(name, block, BLOCKS[name]))
    text = f"""# EncoderMI on the embedded benchmark

Seed {results['seed']}. Accuracy, precision and recall are those of each classifier's own decisions (balanced
challenge sets); AUC with a 95% cluster-bootstrap CI over identities. Known dimensions (✓) copy the target's;
unknown ones (✗) use `pii-avatars` data (another synthetic distribution), the `mia-micro-rn` architecture, and
the other training algorithm (SimCLR for a CLIP target, CLIP for a SimCLR one). "Shadow held-out acc" is the
classifier's 5-fold accuracy on the shadow encoder itself (folds split by identity): the membership signal
before any transfer to the target. Regenerate with `mia-bench encodermi-table`; targets, shadow encoders and
their features come from the cache on a second run, which trains nothing.

{findings(results)}

""" + "\n".join(sections)
    atomic_write_text(out / "encodermi.md", text)
    return out / "encodermi.md"


def findings(results: dict) -> str:
    """A summary computed from the numbers above (so it cannot go stale)."""
    lines = ["| target | full-knowledge AUC (V / S / T) | null-target AUC (V / S / T) | mean shadow held-out acc |",
             "|---|---|---|---|"]
    for name, block in results["blocks"].items():
        full = {p["variant"]: p for p in block["settings"] if all(p["options"].get(f"know_{d}")
                                                                  for d in ("data", "arch", "algorithm"))
                and p["control"] == "none"}
        null = {p["variant"]: p for p in block["settings"] if all(p["options"].get(f"know_{d}")
                                                                  for d in ("data", "arch", "algorithm"))
                and p["control"] == "null"}
        cv = [p["info"].get("shadow_cv_accuracy") for p in block["settings"] if p["control"] == "none"]
        cv = [c for c in cv if c is not None]
        lines.append(f"| {BLOCKS[name]['title']} | " + " / ".join(_auc(full[v]) if v in full else "–" for v in VARIANTS)
                     + " | " + " / ".join(_auc(null[v]) if v in null else "–" for v in VARIANTS)
                     + (f" | {np.mean(cv):.2f} |" if cv else " | – |"))
    return "\n".join(lines)


@click.command("encodermi-table")
@click.option("--target", "-t", default="clip-micro-vit", help="Default-block target spec (trained here).")
@click.option("--seed", default=0, type=int)
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("leaderboards/encodermi"))
@click.option("--no-progress", is_flag=True)
@click.option("--rerun", is_flag=True, help="Recompute cells already on disk (cached models are still reused).")
def encodermi_table(target, seed, out, no_progress, rerun) -> None:
    """EncoderMI-V/S/T under the 8 background-knowledge settings, and its size and n sweeps,
    on the default CLIP target and on a SimCLR-trained encoder."""
    results = run_experiments(out, target, seed, progress=not no_progress, rerun=rerun)
    click.echo(write_report(results, out).read_text())
