"""``mia-bench umid-exposure``: how often must a person appear before an audit detects them?

AUC of UMID (text only), text-kNN (text only), IDIA and CSA (both send photos) against
the number of training photos per member identity, on one world with 13 photos per
identity (up to 10 trained on, 3 held out as the auditor's photos), as in IDIA's
experiments. Runs through the ordinary runner, so targets and results are cached and
resumable.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

EXPOSURES = (1, 3, 10)
ATTACKS = ("umid", "text-knn", "idia", "csa")


def dataset_spec(exposure: int) -> str:
    return f"pii-faces?photos_per_identity=13&train_photos={exposure}&evidence_photos=3"


def run_exposure(out: Path, target: str, seeds=(0, 1, 2), exposures=EXPOSURES) -> list[dict]:
    """One point per (attack, exposure): the seeds' mean AUC with the leaderboard's two-level
    bootstrap CI (seeds, then identities), and each seed's AUC."""
    from mia_bench.api import resolve, run
    from mia_bench.leaderboard import aggregate_tracks

    records = run(list(ATTACKS), [target], [dataset_spec(e) for e in exposures], out=out / "run", seeds=list(seeds),
                  units=("identity",))
    points = []
    for track in aggregate_tracks(records, out / "run"):
        for row in track.rows:
            if row.error or row.auc is None or row.auc_ci is None:
                continue
            exposure = int(resolve("dataset", row.dataset).options.train_photos)
            points.append({"attack": row.attack, "exposure": exposure, "auc": row.auc, "auc_ci": list(row.auc_ci),
                           "seeds": list(row.seeds), "auc_per_seed": dict(row.auc_per_seed),
                           "biometric": row.biometric})
    return sorted(points, key=lambda p: (p["attack"], p["exposure"]))


def write_exposure(points: list[dict], out: Path, target: str, seeds=(0, 1, 2)) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mia_bench.cache import atomic_write_json, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    from mia_bench.results import environment

    atomic_write_json(out / "exposure.json", {"target": target, "seeds": list(seeds), "points": points,
                                              "environment": environment()})
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for attack in ATTACKS:
        pts = [p for p in points if p["attack"] == attack]
        if not pts:
            continue
        x = np.array([p["exposure"] for p in pts])
        y = np.array([p["auc"] for p in pts])
        err = np.abs(np.array([p["auc_ci"] for p in pts]).T - y)
        style = "--" if pts[0]["biometric"] else "-"
        ax.errorbar(x, y, yerr=err, fmt="o" + style, capsize=3,
                    label=f"{attack} ({'sends photos' if pts[0]['biometric'] else 'text only'})")
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set(xscale="log", xlabel="training photos per member identity", ylabel="AUC (95% CI)",
           title=f"Detectability vs exposure (identity level, seeds {', '.join(map(str, seeds))})")
    ax.set_xticks(list(EXPOSURES), [str(e) for e in EXPOSURES])
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "exposure.png", dpi=110)
    plt.close(fig)
    rows = ["| attack | " + " | ".join(f"{e} photos" for e in EXPOSURES) + " |", "|---|" + "---|" * len(EXPOSURES)]
    for attack in ATTACKS:
        cells = []
        for e in EXPOSURES:
            p = next((p for p in points if p["attack"] == attack and p["exposure"] == e), None)
            cells.append("" if p is None else f"{p['auc']:.2f} [{p['auc_ci'][0]:.2f}, {p['auc_ci'][1]:.2f}]")
        rows.append(f"| {attack} | " + " | ".join(cells) + " |")
    from mia_bench.aggregate import seed_options

    seed_args = seed_options(seeds)
    atomic_write_text(out / "exposure.md", "# Exposure sweep\n\nAUC at identity level, 100 members vs 100 non-members "
                      f"per seed, target `{target}`: the mean over seeds {', '.join(map(str, seeds))} with a two-level "
                      "bootstrap 95% CI (seeds, then identities), as on the leaderboards. Regenerate with "
                      f"`mia-bench umid-exposure{seed_args}`.\n\n"
                      + "\n".join(rows) + "\n\n![exposure](exposure.png)\n")


@click.command("umid-exposure")
@click.option("--target", "-t", default="clip-micro-vit", help="Target spec (trained here).")
@click.option("--seed", "seeds", multiple=True, type=int, default=(0, 1, 2), show_default=True,
              help="Run seeds (repeat the option); each deals its own split and trains its own targets.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("leaderboards/exposure"))
def umid_exposure(target, seeds, out) -> None:
    """AUC of UMID, text-kNN, IDIA and CSA vs training photos per member identity (plotted)."""
    seeds = tuple(sorted(set(seeds)))
    points = run_exposure(out, target, seeds)
    write_exposure(points, out, target, seeds)
    click.echo((out / "exposure.md").read_text())
