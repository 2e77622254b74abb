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


def _run(out: Path, attacks: list[str], targets: list[str], datasets: list[str], seeds: tuple[int, ...],
         progress: bool, rerun: bool = False, n_boot: int = 1000) -> list[dict]:
    """Run the grid over ``seeds`` and return one point per (attack, target, dataset): the
    leaderboard's aggregated row (mean AUC over seeds with its two-level bootstrap CI, pooled
    accuracy, precision, recall and TPR), its per-seed AUCs, and the shadow diagnostics
    averaged over seeds."""
    from mia_bench.api import run

    records = run(attacks, targets, datasets, out=out, seeds=list(seeds), progress=progress, rerun=rerun)
    return aggregate_points(records, out, n_boot)


def aggregate_points(records: list, out: Path, n_boot: int = 1000) -> list[dict]:
    from mia_bench.leaderboard import aggregate_tracks
    from mia_bench.registry import ComponentSpec

    by_key = {r.key: r for r in records}
    points = []
    for track in aggregate_tracks(records, out, n_boot):
        for row in track.rows:
            done = [by_key[s["key"]] for s in row.per_seed if not s["error"] and s["key"] in by_key]
            if row.error or row.auc is None or row.auc_ci is None or not done:
                continue
            first = done[0]
            spec = ComponentSpec.parse(first.cell.attack)
            info = dict(first.info)
            for k in ("shadow_cv_accuracy", "shadow_train_accuracy"):  # per seed: one shadow encoder each
                vals = [r.info[k] for r in done if r.info.get(k) is not None]
                info[k] = float(np.mean(vals)) if vals else None
            points.append({
                "variant": spec.name, "options": dict(spec.options), "control": first.cell.control,
                "dataset": first.cell.dataset, "seeds": [r.cell.seed for r in done],
                "failed_seeds": sorted(int(s) for s in row.seed_errors),
                "accuracy": row.accuracy, "accuracy_ci": _pair(row.accuracy_ci), "precision": row.precision,
                "recall": row.recall, "auc": row.auc, "auc_ci": list(row.auc_ci), "auc_sd": row.auc_sd,
                "auc_per_seed": dict(row.auc_per_seed), "tpr_at_1fpr": row.tpr_1, "flags": list(row.flags),
                "info": info,
                "train_pairs": ((first.target.info if first.target else {}).get("training") or {}).get("train_pairs"),
            })
    return points


def _pair(ci) -> list | None:
    return None if ci is None else [float(ci[0]), float(ci[1])]


def run_block(out: Path, block: dict, target: str, seeds: tuple[int, ...], progress: bool, rerun: bool) -> dict:
    tgt = block["target"].format(target=target)
    extra = block["attack_options"]
    settings = _run(out / "run-settings", [setting_spec(v, k, extra) for v in VARIANTS for k in SETTINGS],
                    [tgt, f"{tgt}?control=null" if "?" not in tgt else f"{tgt}&control=null"], [block["dataset"]],
                    seeds, progress, rerun)
    sizes = _run(out / "run-sizes", [v + ("?" + extra[1:] if extra else "") for v in VARIANTS], [tgt],
                 list(block["sizes"]), seeds, progress, rerun)
    views = _run(out / "run-views", [f"{v}?n_views={n}{extra}" for v in VARIANTS for n in VIEWS], [tgt],
                 [block["dataset"]], seeds, progress, rerun)
    return {"target": tgt, "dataset": block["dataset"], "settings": settings, "sizes": sizes, "views": views}


def run_experiments(out: Path, target: str, seeds: tuple[int, ...] = (0, 1, 2), progress: bool = True,
                    rerun: bool = False) -> dict:
    blocks = {}
    for name, block in BLOCKS.items():
        sub = out if name == "clip" else out / name
        blocks[name] = run_block(sub, block, target, seeds, progress, rerun)
    return {"seeds": list(seeds), "blocks": blocks}


def _fmt(x, digits=2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _auc(p: dict) -> str:
    """AUC [CI], marked where the leaderboard would flag it (a control off chance, an inverted
    attack) and where a seed failed."""
    text = f"{p['auc']:.2f} [{p['auc_ci'][0]:.2f}, {p['auc_ci'][1]:.2f}]"
    for flag in p.get("flags", []):
        text += f" **{flag}**"
    if p.get("failed_seeds"):
        text += f" (seeds {','.join(map(str, p['seeds']))}; {len(p['failed_seeds'])} failed)"
    return text


def _off_chance(points: list[dict]) -> list[dict]:
    """Attack rows on the real target whose AUC CI lies wholly above 0.5."""
    return [p for p in points if p["control"] == "none" and p["auc_ci"][0] > 0.5]


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


def _row_name(p: dict) -> str:
    opts = "&".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in sorted(p["options"].items()))
    null = " (null target)" if p["control"] == "null" else ""
    return f"`{p['variant']}{'?' + opts if opts else ''}` on `{p['dataset']}`{null}"


def _seeds_text(seeds) -> str:
    return ", ".join(map(str, seeds))


def write_report(results: dict, out: Path) -> Path:
    from mia_bench.cache import atomic_write_json, atomic_write_text
    from mia_bench.results import environment

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "encodermi.json", {"seeds": results["seeds"], "blocks": {
        name: {**{k: v for k, v in b.items() if not isinstance(v, list)},
               **{k: _slim(v) for k, v in b.items() if isinstance(v, list)}} for name, b in results["blocks"].items()},
        "environment": environment()})  # the provenance block every cell record carries
    sections = []
    for name, block in results["blocks"].items():
        plot_sweeps(block, out / f"sweeps-{name}.png")
        sections.append(block_section(name, block, BLOCKS[name]))
    seeds = results["seeds"]
    from mia_bench.aggregate import seed_options

    seed_args = seed_options(seeds)
    text = f"""# EncoderMI on the embedded benchmark

Seeds {_seeds_text(seeds)}: each seed deals its own split and trains its own targets, null targets and shadow
encoders. Every figure is over all seeds, as on the leaderboards: AUC is the mean over seeds with a two-level
bootstrap 95% CI (seeds, then identities); accuracy, precision, recall and TPR@1%FPR are pooled over the seeds'
challenge sets, from each classifier's own decisions (balanced challenge sets; accuracy is balanced). Per-seed
AUCs are in `encodermi.json`. Known dimensions (✓) copy the target's;
unknown ones (✗) use `pii-avatars` data (another synthetic distribution), the `mia-micro-rn` architecture, and
the other training algorithm (SimCLR for a CLIP target, CLIP for a SimCLR one). "Shadow held-out acc" is the
classifier's 5-fold accuracy on the shadow encoder itself (folds split by identity), averaged over seeds: the
membership signal before any transfer to the target. Regenerate with `mia-bench encodermi-table{seed_args}`;
targets, shadow encoders and their features come from the cache on a second run, which trains nothing.

{findings(results)}

""" + "\n".join(sections)
    atomic_write_text(out / "encodermi.md", text)
    atomic_write_text(out / "summary.md", "# EncoderMI summary\n\n" + findings(results) + "\n")
    return out / "encodermi.md"


def findings(results: dict) -> str:
    """A summary computed from the tables (so the README, which includes it, cannot go stale)."""
    seeds = _seeds_text(results["seeds"])
    lines = [f"`mia-bench encodermi-table`, seeds {seeds}: mean AUC over seeds [two-level 95% CI]. "
             "Full rows and sweeps: `leaderboards/encodermi/encodermi.md`.", "",
             "| target | full-knowledge AUC (V / S / T) | null-target AUC (V / S / T) | mean shadow held-out acc "
             "| rows with CI above 0.5 |", "|---|---|---|---|---|"]
    for name, block in results["blocks"].items():
        def full(control, block=block):
            return {p["variant"]: p for p in block["settings"] if p["control"] == control
                    and all(p["options"].get(f"know_{d}") for d in ("data", "arch", "algorithm"))}

        target, null = full("none"), full("null")
        cv = [p["info"].get("shadow_cv_accuracy") for p in block["settings"] if p["control"] == "none"]
        cv = [c for c in cv if c is not None]
        above = [f"{kind} {len(_off_chance(block[kind]))} of {sum(p['control'] == 'none' for p in block[kind])}"
                 for kind in ("settings", "sizes", "views")]
        lines.append(f"| {BLOCKS[name]['title']} | " + " / ".join(_auc(target[v]) if v in target else "–"
                                                                 for v in VARIANTS)
                     + " | " + " / ".join(_auc(null[v]) if v in null else "–" for v in VARIANTS)
                     + (f" | {np.mean(cv):.2f}" if cv else " | –") + f" | {'; '.join(above)} |")
    flagged = [p for b in results["blocks"].values() for kind in ("settings", "sizes", "views") for p in b[kind]
               if p["flags"]]
    lines += ["", "Flagged rows (a null control whose CI excludes 0.5, or an attack whose CI lies below it): "
              + ("; ".join(f"{_row_name(p)}: {_auc(p)}" for p in flagged) if flagged else "none") + "."]
    return "\n".join(lines)


@click.command("encodermi-table")
@click.option("--target", "-t", default="clip-micro-vit", help="Default-block target spec (trained here).")
@click.option("--seed", "seeds", multiple=True, type=int, default=(0, 1, 2), show_default=True,
              help="Run seeds (repeat the option); each deals its own split and trains its own models.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("leaderboards/encodermi"))
@click.option("--no-progress", is_flag=True)
@click.option("--rerun", is_flag=True, help="Recompute cells already on disk (cached models are still reused).")
def encodermi_table(target, seeds, out, no_progress, rerun) -> None:
    """EncoderMI-V/S/T under the 8 background-knowledge settings, and its size and n sweeps,
    on the default CLIP target and on a SimCLR-trained encoder."""
    results = run_experiments(out, target, tuple(sorted(set(seeds))), progress=not no_progress, rerun=rerun)
    click.echo(write_report(results, out).read_text())
