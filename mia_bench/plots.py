"""Plots people look at instead of tables: log-log ROC curves and score histograms per track."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from .cache import stable_hash
from .metrics import auc as compute_auc
from .metrics import roc_points_for_plot
from .records import RecordError
from .results import load_scores

log = logging.getLogger(__name__)


def plot_slug(text: str, max_chars: int = 48) -> str:
    """A short file-name-safe slug, unique per title: a readable prefix plus a hash of the
    exact title (titles that differ only by case, or share a long prefix, never collide,
    and a 160-character dataset path never exceeds the file-name limit)."""
    readable = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:max_chars].strip("-")
    return f"{readable}-{stable_hash(text, 8)}"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_tracks(out_dir: Path, tracks) -> list[Path]:
    paths = []
    for track in tracks:
        scores = {}
        for r in track.rows:
            if r.error is None and r.key:
                try:
                    scores[r.key] = load_scores(out_dir, r.key)
                except RecordError as exc:  # the table still shows the row; its curve is left out
                    log.warning("left out of the plots: %s", exc)
        rows, scores = _pool_seeds([r for r in track.rows if r.key in scores], scores)
        if not rows:
            continue
        slug = plot_slug(track.title)
        paths.append(plot_roc(out_dir / "plots" / f"roc-{slug}.png", track.title, rows, scores))
        paths.append(plot_histograms(out_dir / "plots" / f"hist-{slug}.png", track.title, rows, scores))
    return paths


def _pool_seeds(rows, scores):
    """One curve (and histogram panel) per (attack, target, defense): the scores of all its seeds
    pooled, as the leaderboard's pooled TPR reads them. Per-seed curves made 80-curve legends and
    80-panel figures on a 3-seed run (most of the run's plotting time)."""
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault((r.attack, r.target, r.defense), []).append(r)
    pooled_rows, pooled = [], {}
    for members in groups.values():
        first = members[0]
        parts = [scores[r.key] for r in members]
        pooled[first.key] = {"scores": np.concatenate([np.asarray(p["scores"], dtype=np.float64) for p in parts]),
                             "labels": np.concatenate([np.asarray(p["labels"]).astype(bool) for p in parts])}
        pooled_rows.append((first, sorted(r.seed for r in members)))
    return pooled_rows, pooled


def _label(item) -> str:
    row, _ = item
    defense = f" [{row.defense}]" if row.defense != "none" else ""
    return f"{row.attack} on {row.target}{defense}"


def _seeds_note(rows) -> str:
    seeds = sorted({s for _, group in rows for s in group})
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {','.join(map(str, seeds))} pooled"


def plot_roc(path: Path, title: str, rows, scores) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    floor = 1.0
    for item in rows:
        row = item[0]
        s = scores[row.key]
        fpr, tpr = roc_points_for_plot(s["scores"], s["labels"].astype(bool))
        floor = min(floor, float(fpr[fpr > 0].min()) if np.any(fpr > 0) else floor)
        style = "--" if (row.control or row.model_free) else "-"
        auc = compute_auc(s["scores"], s["labels"].astype(bool))
        ax.plot(fpr, tpr, style, lw=1.4, label=f"{_label(item)} (AUC {auc:.2f})")
    grid = np.logspace(np.log10(floor), 0, 50)
    ax.plot(grid, grid, ":", color="grey", lw=1, label="chance")
    ax.set(xscale="log", yscale="log", xlabel="false positive rate", ylabel="true positive rate",
           title=f"{title}\n({_seeds_note(rows)})")
    ax.set_xlim(floor, 1)
    ax.set_ylim(floor, 1.02)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, which="both", alpha=0.2)
    return _save(fig, path)


def plot_histograms(path: Path, title: str, rows, scores) -> Path:
    plt = _plt()
    cols = min(3, len(rows))
    nrows = int(np.ceil(len(rows) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.0 * nrows), squeeze=False)
    for ax, item in zip(axes.ravel(), rows):
        row = item[0]
        s = scores[row.key]
        labels = s["labels"].astype(bool)
        bins = np.histogram_bin_edges(s["scores"], bins=30)
        ax.hist(s["scores"][labels], bins=bins, alpha=0.6, label="members", color="tab:red")
        ax.hist(s["scores"][~labels], bins=bins, alpha=0.6, label="non-members", color="tab:blue")
        ax.set_title(_label(item), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(rows):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle(f"score histograms: {title} ({_seeds_note(rows)})", fontsize=9)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path
