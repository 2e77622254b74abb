"""Render a site folder: index, one page per track, per entry and per defense sweep, the
SVG figures and each cell's per-sample scores as CSV. Every link is relative, so the folder
opens from ``file://`` and can be moved or published as it is."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..leaderboard import defense_label
from ..results import load_scores
from .figures import frontier_plot, histogram_plot, minify_svg, roc_plot, svg_style
from .frontier import privacy_utility
from .sources import SiteError, Source, load_sources
from .views import TrackView, track_views

ASSETS = {"style.css": ("style.css",), "site.js": ("sort.js", "compare.js")}  # local files every page links
MARKER = ".mia-bench-site"  # marks a folder this module built, so rebuilding may replace it


@dataclass
class SiteSummary:
    out: Path
    sources: list[str] = field(default_factory=list)
    tracks: int = 0
    entries: int = 0
    pages: int = 0

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.out.rglob("*") if p.is_file())


def _fmt(x, digits: int = 3) -> str:
    return "n/r" if x is None else f"{x:.{digits}f}"


def _signed(x, digits: int = 3) -> str:
    return "" if x is None else f"{x:+.{digits}f}"


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("mia_bench.site", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters.update(fmt=_fmt, signed=_signed, defense=defense_label,
                       tojson_compact=lambda v: json.dumps(v, separators=(",", ":"), sort_keys=True)
                       .replace("<", "\\u003c"))
    return env


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise SiteError(f"{out} is not empty and was not built by `mia-bench site`; "
                            "give an empty or new folder as --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("built by `mia-bench site`; rebuilding replaces this folder\n")


def scores_csv(arrays: dict[str, np.ndarray]) -> str:
    """id, label (1 = member), score (higher = member) and the attack's decision when it made one."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    has_dec = "decisions" in arrays
    w.writerow(["id", "label", "score"] + (["decision"] if has_dec else []))
    ids = arrays.get("ids", np.arange(len(arrays["scores"])))
    for i in range(len(arrays["scores"])):
        row = [ids[i], int(arrays["labels"][i]), f"{arrays['scores'][i]:.8g}"]
        w.writerow(row + ([int(arrays["decisions"][i])] if has_dec else []))
    return buf.getvalue()


def write_text(path: Path, text: str) -> None:
    """Plain writes (world-readable, unlike the cache's atomic temp files): a site is rebuilt whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_gzip(path: Path, text: str) -> None:
    """Gzipped (a third of the size: per-sample scores are most of a site) and reproducible
    (no timestamp or name in the header, so a rebuild from the same results is identical)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(text.encode("utf-8"))


class SiteWriter:
    def __init__(self, out: Path):
        self.out, self.env, self.summary = out, _environment(), SiteSummary(out)

    def page(self, rel: str, template: str, **ctx) -> None:
        depth = rel.count("/")
        html = self.env.get_template(template).render(root="../" * depth, **ctx)
        write_text(self.out / rel, html)
        self.summary.pages += 1

    def source(self, source: Source, pu: dict | None, nav: dict) -> dict:
        """Pages of one results folder; returns what the index lists of it."""
        views = track_views(source, lambda key: load_scores(source.path, key))
        for tv in views:
            self.track(tv, nav)
        if pu is not None:
            self.privacy_utility(source, pu, nav)
        self.summary.sources.append(source.name)
        self.summary.tracks += len(views)
        return {"source": source, "tracks": views, "privacy_utility": pu is not None}

    def track(self, tv: TrackView, nav: dict) -> None:
        base = tv.page.removesuffix(".html")
        roc = roc_plot(tv, self.out / f"{base}-roc.svg")
        hist = histogram_plot(tv, self.out / f"{base}-hist.svg")
        compare = [{"key": v.key, **v.compare_json()} for v in tv.rows]  # in table order: best rows first
        self.page(tv.page, "track.html", tv=tv, nav=nav, compare=compare,
                  roc=roc and roc.name, hist=hist and hist.name)
        for v in tv.rows:
            entry = self.out / v.entry_path
            if entry.exists():  # a model-free row shared by two tracks: one entry page
                continue
            if v.scores is not None:
                write_gzip(self.out / v.scores_path, scores_csv(v.scores))
            self.page(v.entry_path, "entry.html", v=v, tv=tv, nav=nav)
            self.summary.entries += 1

    def privacy_utility(self, source: Source, pu: dict, nav: dict) -> None:
        rel = f"{source.slug}/privacy-utility.html"
        from ..privacy_utility import plot

        with svg_style():  # text as text, not glyph outlines
            per_attack = plot(pu["rows"], self.out / f"{source.slug}/privacy-utility.svg", pu["utility"])
        per_attack.write_text(minify_svg(per_attack.read_text(encoding="utf-8")), encoding="utf-8")
        frontier = None
        if pu["points"]:
            frontier = frontier_plot(pu["points"], pu["utility"], self.out / f"{source.slug}/frontier.svg")
        self.page(rel, "privacy_utility.html", source=source, pu=pu, nav=nav, per_attack=per_attack.name,
                  frontier=frontier and frontier.name)


def write_assets(out: Path) -> None:
    from importlib.resources import files

    templates = files("mia_bench.site") / "templates"
    for name, parts in ASSETS.items():
        write_text(out / name, "\n".join(templates.joinpath(p).read_text(encoding="utf-8") for p in parts))


def _suite_of(source: Source) -> dict | None:
    from ..suites import load_suite, named_suites

    name = source.path.resolve().name
    return load_suite(name) if name in named_suites() else None


def _nav(sources: list[Source], pus: list[dict | None]) -> dict:
    """Links every page carries: the privacy-utility pages and the CLAP (audio) boards."""
    return {"privacy_utility": [(s.name, f"{s.slug}/privacy-utility.html") for s, pu in zip(sources, pus) if pu],
            "audio": [(s.name, f"index.html#{s.slug}") for s in sources if "audio" in s.modalities]}


def build_site(out: Path, results: list[Path]) -> SiteSummary:
    """Build the site for the results folders at or under ``results`` into ``out``."""
    out = Path(out)
    sources = load_sources(results, out)
    _prepare(out)
    write_assets(out)
    writer = SiteWriter(out)
    pus = [privacy_utility(s.records, s.path) for s in sources]
    nav = _nav(sources, pus)
    boards = []
    for source, pu in zip(sources, pus):
        board = writer.source(source, pu, nav)
        board["suite"] = _suite_of(source)
        boards.append(board)
    writer.page("index.html", "index.html", boards=boards, nav=nav)
    return writer.summary
