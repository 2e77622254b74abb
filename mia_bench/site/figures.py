"""The site's figures, as SVG: small (text kept as text, not glyph paths), deterministic
(no date, fixed ids), so a regenerated site differs only where the results did."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..metrics import roc_points_for_plot
from .views import RowView, TrackView

SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "mia-bench", "path.simplify": True,
          "path.simplify_threshold": 0.5, "font.size": 8}


@contextmanager
def _pyplot() -> Iterator:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(SVG_RC):  # type: ignore[arg-type]  # the stub wants Literal rc keys; these are valid
        yield plt


def _round(value: str) -> str:
    value = re.sub(r"(\d+\.\d)\d+", r"\1", value)
    return re.sub(r"(\d)\.0(?=[\s\"),;])", r"\1", value)  # 12.0 -> 12


@contextmanager
def svg_style() -> Iterator:
    """The site's SVG settings, for figures drawn by other modules (the privacy-utility plot)."""
    with _pyplot():
        yield


def minify_svg(text: str) -> str:
    """Coordinates to 0.1 pt (a tenth of a screen pixel), no metadata, DOCTYPE, comments or
    indentation: a fraction of matplotlib's output, identical on screen."""
    head, _, body = text.partition("\n")  # the XML declaration (version="1.0") stays as it is
    body = re.sub(r"<metadata>.*?</metadata>|<!DOCTYPE[^>]*>|<!--.*?-->", "", body, flags=re.DOTALL)
    # Geometry attributes only: text stays exact, and transforms keep their scale factors
    # (glyph outlines are drawn at scale(0.015625)).
    body = re.sub(r'(?<=\s)(d|x|y|width|height|viewBox|points)="[^"]*"', lambda m: _round(m.group(0)), body)
    body = re.sub(r"\s*\n\s*", "\n", body)
    return head + "\n" + re.sub(r"\n(?=[LMCQz])", " ", body).strip() + "\n"


def save_svg(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    with plt.rc_context(SVG_RC):  # type: ignore[arg-type]  # the stub wants Literal rc keys; these are valid
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(minify_svg(buf.getvalue()), encoding="utf-8")
    return path


def decimate_log(fpr: np.ndarray, tpr: np.ndarray, tol: float = 0.004) -> tuple[np.ndarray, np.ndarray]:
    """Drop ROC points closer than ``tol`` decades (in both axes) to the last kept one: on
    log-log axes they are invisible, and a 1000-row ROC would otherwise make a heavy SVG.
    The first and last points are always kept, so the curve's ends are exact."""
    lf, lt = np.log10(fpr), np.log10(tpr)
    keep, last = [0], 0
    for i in range(1, len(fpr) - 1):
        if abs(lf[i] - lf[last]) > tol or abs(lt[i] - lt[last]) > tol:
            keep.append(i)
            last = i
    keep.append(len(fpr) - 1)
    return fpr[keep], tpr[keep]


def _style(view: RowView) -> str:
    return {"attack": "-", "null": "--", "blind": ":"}[view.kind]


def _seed_groups(rows: list[RowView]) -> dict[tuple, list[RowView]]:
    groups: dict[tuple, list[RowView]] = {}
    for v in rows:
        groups.setdefault((v.row.attack, v.row.target, v.row.defense), []).append(v)
    return groups


def _scores(v: RowView) -> dict[str, np.ndarray]:
    """The row's loaded scores; the plots keep only rows that have them."""
    assert v.scores is not None
    return v.scores


def roc_plot(track: TrackView, path: Path) -> Path | None:
    """Every row's ROC on log-log axes; rows repeated over seeds get a min-max band."""
    rows = [v for v in track.rows if v.ok and v.scores is not None]
    if not rows:
        return None
    with _pyplot() as plt:
        fig, ax = plt.subplots(figsize=(6.4, 4.6 + 0.12 * max(0, len(rows) - 12)))
        floor = 1.0
        for group in _seed_groups(rows).values():
            curves = [decimate_log(*roc_points_for_plot(_scores(v)["scores"], _scores(v)["labels"].astype(bool)))
                      for v in group]
            floor = min([floor] + [float(f.min()) for f, _ in curves])
            for v, (f, t) in zip(group, curves):
                label = f"{v.label} AUC {v.row.auc:.2f}" + (" [control]" if v.is_control else "")
                line, = ax.plot(f, t, _style(v), lw=1.2, label=label)
            if len(group) > 1:
                grid = np.logspace(np.log10(floor), 0, 60)
                tprs = np.array([np.interp(np.log(grid), np.log(f), t) for f, t in curves])
                ax.fill_between(grid, tprs.min(0), tprs.max(0), color=line.get_color(), alpha=0.15, lw=0)
        grid = np.logspace(np.log10(floor), 0, 20)
        ax.plot(grid, grid, color="grey", lw=0.8, ls=(0, (1, 2)), label="chance")
        for a in (0.01, 0.001):
            ax.axvline(a, color="grey", lw=0.5, alpha=0.5)
        ax.set(xscale="log", yscale="log", xlim=(floor, 1), ylim=(floor, 1.05), title=track.track.title,
               xlabel="false positive rate", ylabel="true positive rate")
        ax.grid(True, which="major", alpha=0.2)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return save_svg(fig, path)


def histogram_plot(track: TrackView, path: Path) -> Path | None:
    """Member vs non-member score histograms, one small panel per row (outlines only: small SVG)."""
    rows = [v for v in track.rows if v.ok and v.scores is not None]
    if not rows:
        return None
    with _pyplot() as plt:
        cols = min(4, len(rows))
        nrows = int(np.ceil(len(rows) / cols))
        fig, axes = plt.subplots(nrows, cols, figsize=(2.6 * cols, 1.9 * nrows), squeeze=False)
        for ax, v in zip(axes.ravel(), rows):
            s, y = _scores(v)["scores"], _scores(v)["labels"].astype(bool)
            bins = np.histogram_bin_edges(s, bins=25)
            ax.hist(s[y], bins=bins, histtype="step", color="tab:red", label="members")
            ax.hist(s[~y], bins=bins, histtype="step", color="tab:blue", label="non-members")
            ax.set_title(v.label + (" [control]" if v.is_control else ""), fontsize=6)
            ax.set_yticks([])  # counts say little across panels; fewer ticks keep the SVG small
            ax.xaxis.set_major_locator(plt.MaxNLocator(3))
            ax.tick_params(labelsize=5)
        for ax in axes.ravel()[len(rows):]:
            ax.axis("off")
        axes.ravel()[0].legend(fontsize=5)
        fig.tight_layout()
        return save_svg(fig, path)


def frontier_plot(points: list[dict], utility: str, path: Path) -> Path:
    """Worst-case attack AUC (over the suite's attacks) against utility, one point per defense
    setting, the privacy-utility frontier drawn through the non-dominated ones."""
    with _pyplot() as plt:
        fig, ax = plt.subplots(figsize=(5.6, 4.0))
        xs, ys = [p[utility] for p in points], [p["auc"] for p in points]
        ax.scatter(xs, ys, s=18, color="tab:grey", zorder=2)
        for p in points:
            ax.annotate(p["label"], (p[utility], p["auc"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
        front = sorted((p for p in points if p["frontier"]), key=lambda p: p[utility])
        ax.plot([p[utility] for p in front], [p["auc"] for p in front], "o-", color="tab:green", label="frontier")
        ax.axhline(0.5, color="grey", ls=":", lw=1)
        ax.set(xlabel=utility.replace("_", " "), ylabel="worst-case attack AUC",
               title="privacy-utility frontier (low AUC, high utility is better)")
        ax.legend(fontsize=6)
        return save_svg(fig, path)


