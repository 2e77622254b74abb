"""The static site, without a browser: every result in exactly one track table, every link
resolving inside the site, nothing from the network, HTML that parses with balanced tags,
and the numbers on the pages matching the records and the exported scores."""

from __future__ import annotations

import csv
import gzip
import re
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from click.testing import CliRunner

from mia_bench import metrics
from mia_bench.attack import Attack
from mia_bench.plan import build_plan
from mia_bench.results import load_records
from mia_bench.runner import RunConfig, Runner
from mia_bench.testing import isolated_plugins, toy_plugin
from mia_bench.tracks import Row

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Broken(Attack):
    name = "broken"
    units = ("pair",)

    def run(self, target, challenge, context):
        raise RuntimeError("deliberate failure")


class _Broken:
    from mia_bench.hookspecs import hookimpl

    @staticmethod
    @hookimpl
    def register_attacks(register):
        register(Broken)


def make_results(out: Path, cache_dir: Path) -> Path:
    """A small results folder from the toy plugins: csa on a target and its null control,
    the blind baseline, and one failing attack (an error row). Seconds."""
    from mia_bench import plugins as pl
    from mia_bench.cache import Cache

    installed = pl.default_plugins().load()
    keep = [(name, installed.get_plugin(name)) for name in ("baselines", "defaults")]
    with isolated_plugins(toy_plugin, _Broken(), *keep):
        plan = build_plan(["csa", "blind", "broken"], ["toy", "toy?control=null"], ["toy"], None, [0])
        Runner(plan, RunConfig(out, Cache(cache_dir), n_boot=100, progress=False)).run()
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from mia_bench.site import build_site

    root = tmp_path_factory.mktemp("site")
    results = make_results(root / "runs" / "toy", root / "cache")
    shutil.copytree(results, root / "runs" / "toy-copy")  # same keys in a second folder: kept apart
    site = root / "site"
    summary = build_site(site, [root / "runs"])
    return SimpleNamespace(root=root, site=site, summary=summary,
                           records={name: load_records(root / "runs" / name) for name in ("toy", "toy-copy")})


class _Page(HTMLParser):
    """Collects links, ids and table rows; fails on unbalanced tags."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.links, self.ids, self.errors = [], [], set(), []
        self.board_keys, self._in_board = [], False
        self.board_cells, self.board_header = [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        for name in ("href", "src"):
            if a.get(name):
                self.links.append(a[name])
        if tag == "table" and a.get("id") == "board":
            self._in_board = True
        if self._in_board and tag == "tr" and "data-key" in a:
            self.board_keys.append(a["data-key"])
            self.board_cells.append(0)
        if self._in_board and tag == "th":
            self.board_header += 1
        if self._in_board and tag == "td" and self.board_cells:
            self.board_cells[-1] += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag == "table":
            self._in_board = False


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _pages(site: Path) -> dict[Path, _Page]:
    return {p: _parse(p) for p in sorted(site.rglob("*.html"))}


def test_html_parses_with_balanced_tags(built):
    pages = _pages(built.site)
    assert len(pages) == built.summary.pages
    for path, page in pages.items():
        assert not page.errors, f"{path}: {page.errors[:3]}"
        assert page.stack == [], f"{path}: unclosed {page.stack}"
        assert all(n == page.board_header for n in page.board_cells), f"{path}: rows misaligned with the header"


def test_every_link_resolves_to_a_file_in_the_site(built):
    site = built.site.resolve()
    pages = _pages(built.site)
    checked = 0
    for path, page in pages.items():
        for link in page.links:
            url = urlparse(link)
            assert not url.scheme and not url.netloc, f"{path}: non-local link {link}"
            target = (path.parent / unquote(url.path)).resolve() if url.path else path.resolve()
            assert target.is_file(), f"{path}: {link} -> {target} does not exist"
            assert site in target.parents, f"{path}: {link} leaves the site"
            if url.fragment and target.suffix == ".html":
                assert url.fragment in pages[Path(built.site / target.relative_to(site))].ids, f"{path}: {link}"
            checked += 1
    assert checked > 50


def test_nothing_is_loaded_from_the_network(built):
    for path in built.site.rglob("*"):
        if path.suffix in (".html", ".js", ".css"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"https?://", text), f"{path} mentions a URL"
        elif path.suffix == ".svg":  # namespace declarations only, never a reference to fetch
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"(href|src)=\"https?:|url\(https?:|@import", text), path
            ET.fromstring(text.encode())  # still well-formed XML after minifying


def test_every_result_appears_in_exactly_one_track_table(built):
    """Per results folder: each record's key in exactly one track table, except a model-free
    record (the blind baseline), which is the shared reference of every track of its dataset
    and unit, once in each."""
    pages = _pages(built.site)
    for source, records in built.records.items():
        tables = {p: pg.board_keys for p, pg in pages.items() if p.parent.name == source and pg.board_keys}
        assert tables, f"no track pages for {source}"
        for rec in records:
            where = [p for p, keys in tables.items() if rec.key in keys]
            assert all(tables[p].count(rec.key) == 1 for p in where)
            if rec.model_free:
                homes = [p for p in tables if p.stem.startswith(f"{rec.cell.dataset}-{rec.cell.unit}-")]
                assert sorted(where) == sorted(homes), rec.key
            else:
                assert len(where) == 1, f"{rec.key} ({rec.cell.attack}/{rec.cell.unit}) in {len(where)} tables"
        n_rows = sum(len(k) for k in tables.values())
        n_model_free = sum(r.model_free for r in records)
        assert n_rows >= len(records) and n_rows - len(records) <= n_model_free * len(tables)


def test_scores_csv_reproduces_the_record(built):
    for rec in built.records["toy"]:
        csv_path = built.site / "toy" / "entries" / f"{rec.key}-scores.csv.gz"
        if not rec.ok:
            assert not csv_path.exists()
            assert (built.site / "toy" / "entries" / f"{rec.key}.html").is_file()
            continue
        with gzip.open(csv_path, "rt") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == rec.metrics.n_members + rec.metrics.n_nonmembers
        scores = np.array([float(r["score"]) for r in rows])
        labels = np.array([r["label"] == "1" for r in rows])
        assert labels.sum() == rec.metrics.n_members
        assert metrics.auc(scores, labels) == pytest.approx(rec.metrics.auc, abs=1e-6)


def test_entry_page_carries_provenance(built):
    rec = next(r for r in built.records["toy"] if r.ok and r.cell.attack == "csa" and not r.cell.is_control)
    html = (built.site / "toy" / "entries" / f"{rec.key}.html").read_text()
    for fact in (rec.target.fingerprint, rec.split.fingerprint, rec.attack.version, rec.attack.plugin,
                 rec.environment["packages"]["numpy"], f"{rec.key}-scores.csv.gz"):
        assert fact in html
    assert "shadow models trained" in html and "git revision" in html


def test_index_answers_best_attack_null_control_and_what_was_sent(built):
    html = (built.site / "index.html").read_text()
    # toy splits: 10 non-members a seed, pooled over the seeds
    n_seeds = len({r.cell.seed for r in built.records["toy"]})
    assert "best at 0.1% FPR" in html and f"n/r: {10 * n_seeds} non-members pooled" in html
    assert "clears null" in html  # the planted signal clears its null control
    assert "image \u00d7" in html and "nothing (model-free)" in html
    assert 'class="badge b-bad">2 errors' in html  # broken, on the target and on its null control


def _row(**kw) -> Row:
    base = {"key": "k", "attack": "a", "target": "t", "defense": "none", "seed": 0, "control": False,
            "model_free": False, "biometric": False, "auc": 0.6, "auc_ci": (0.55, 0.65)}
    return Row(**{**base, **kw})


def _view(**kw):
    from mia_bench.site.views import RowView

    return RowView(_row(**kw), SimpleNamespace(split=None, cost=None, threat_model=None), "src")


def test_flags_failing_controls_inverted_rows_and_clearing():
    failing_null = _view(control=True, target="t (null)", auc=0.56, auc_ci=(0.51, 0.61))
    fine_null = _view(control=True, target="t (null)", auc=0.5, auc_ci=(0.45, 0.55))
    low_blind = _view(model_free=True, auc=0.45, auc_ci=(0.40, 0.49))
    inverted = _view(auc=0.4, auc_ci=(0.35, 0.45))
    strong = _view(auc=0.9, auc_ci=(0.85, 0.95))
    assert failing_null.flags == ["off chance (this seed)"] and low_blind.flags == ["off chance (this seed)"]
    assert fine_null.flags == [] and strong.flags == []
    assert inverted.flags == ["inverted (this seed)"]
    assert strong.clears(fine_null) is True and _view(auc_ci=(0.54, 0.7)).clears(fine_null) is False
    assert strong.margin(fine_null) == pytest.approx(0.4)
    assert strong.clears(None) is None


def test_operating_point_is_the_metric_point():
    from mia_bench.site.views import operating_point

    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(1500, bool), np.zeros(1500, bool)]
    scores = rng.normal(labels * 1.0, 1.0)
    for a in (0.01, 0.001):
        op = operating_point(scores, labels, a)
        assert op.tpr == metrics.tpr_at_fpr(scores, labels, a)
        assert op.fpr <= a
        called = scores >= op.threshold
        assert called[labels].mean() == pytest.approx(op.tpr) and called[~labels].mean() == pytest.approx(op.fpr)
    assert operating_point(scores[:1600], labels[:1600], 0.001) is None  # 100 non-members: not resolvable


def test_frontier_keeps_exactly_the_undominated_settings():
    from mia_bench.site.frontier import undominated

    pts = [{"u": 0.9, "auc": 0.8}, {"u": 0.8, "auc": 0.6}, {"u": 0.7, "auc": 0.7}, {"u": 0.5, "auc": 0.5},
           {"u": 0.9, "auc": 0.85}]
    assert undominated(pts, "u") == [True, True, False, True, False]


def test_cli_builds_refuses_foreign_folders_and_rebuilds(built, tmp_path):
    from mia_bench.cli import (
        cli,
        site_cmds,  # noqa: F401  (registers the command)
    )

    runner = CliRunner()
    out = tmp_path / "site"
    res = runner.invoke(cli, ["site", "--out", str(out), str(built.root / "runs" / "toy")])
    assert res.exit_code == 0, res.output
    assert "Site written to" in res.output and (out / "index.html").is_file()
    (out / "stale.html").write_text("old")
    assert runner.invoke(cli, ["site", "--out", str(out), str(built.root / "runs" / "toy")]).exit_code == 0
    assert not (out / "stale.html").exists()  # a rebuild replaces the folder it built
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    res = runner.invoke(cli, ["site", "--out", str(foreign), str(built.root / "runs" / "toy")])
    assert res.exit_code == 2 and "was not built by `mia-bench site`" in res.output
    assert (foreign / "notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(cli, ["site", "--out", str(tmp_path / "s2"), str(empty)])
    assert res.exit_code == 2 and "no results under" in res.output
    res = runner.invoke(cli, ["site", "--out", str(built.root / "runs"), str(built.root / "runs" / "toy")])
    assert res.exit_code == 2 and "holds the results folder" in res.output


def _agg(**kw):
    from mia_bench.aggregate import AggRow, row_flags

    base = {"key": "k", "attack": "a", "target": "t", "defense": "none", "seed": 0, "control": False,
            "model_free": False, "biometric": False, "auc": 0.6, "auc_ci": (0.55, 0.65), "seeds": [0, 1, 2]}
    row = AggRow(**{**base, **kw})
    row.flags = row_flags(row)
    return row


def test_best_attack_and_flags_come_from_the_rows_over_seeds():
    """The index reports rows over seeds: controls never win, a per-seed control off chance
    is a mark on its seed, not a flag, and clearing the null control is the paired margin."""
    from mia_bench.site.views import TrackView
    from mia_bench.tracks import Track

    agg = [_agg(attack="wide", auc=0.95, auc_ci=(0.9, 0.99), tpr_01=0.02, tpr_1=0.3, margin_null_ci=(0.3, 0.5)),
           _agg(attack="sharp", auc=0.85, auc_ci=(0.8, 0.9), tpr_01=0.2, tpr_1=0.25, margin_null_ci=(-0.02, 0.4)),
           _agg(attack="n", control=True, target="t (null)", auc=0.99, auc_ci=(0.98, 1.0), tpr_01=0.9),
           _agg(attack="blind", model_free=True, auc=0.47, auc_ci=(0.44, 0.52), tpr_01=0.8)]
    # one seed of the fine blind baseline excludes 0.5 on its own
    seeds = [_view(attack="blind", model_free=True, seed=s, auc=a, auc_ci=ci)
             for s, a, ci in ((0, 0.42, (0.35, 0.49)), (1, 0.5, (0.43, 0.57)), (2, 0.49, (0.42, 0.56)))]
    tv = TrackView(Track("d|pair|biometric", "t"), SimpleNamespace(slug="s"), seeds, agg)
    assert tv.best_auc.attack == "wide" and tv.best_low_fpr.attack == "sharp" and tv.best_1.attack == "wide"
    assert seeds[0].flags == ["off chance (this seed)"]
    summary = tv.control_summary
    assert summary["n_failing"] == 1  # the null control at 0.99, not the blind seed
    assert summary["n_clear"] == 1 and summary["n_within"] == 1 and summary["n_no_null"] == 0
    for r in agg[:2]:
        r.tpr_01 = None
    assert tv.best_low_fpr is None


def test_minify_svg_rounds_coordinates_but_keeps_text():
    from mia_bench.site.figures import minify_svg

    svg = ('<?xml version="1.0" encoding="utf-8" standalone="no"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"\n'
           '  "x.dtd">\n<svg xmlns="ns" width="603.666512pt" version="1.1">\n <metadata>m</metadata>\n'
           ' <path d="M 45.000625 275.5185 \nL 12.0 3.14159 \nz\n"/>\n <text x="82.34">0.05</text>\n'
           ' <path id="g" d="M 2034.55 4250" transform="scale(0.015625)"/>\n</svg>\n')
    out = minify_svg(svg)
    assert out.startswith('<?xml version="1.0" ')
    assert 'd="M 45 275.5 L 12 3.1 z' in out and ">0.05</text>" in out and 'x="82.3"' in out
    assert "DOCTYPE" not in out and "metadata" not in out and 'version="1.1"' in out
    assert 'transform="scale(0.015625)"' in out and 'd="M 2034.5 4250"' in out
    ET.fromstring(out.encode())


def test_rebuild_from_the_same_results_is_byte_identical(built, tmp_path):
    """No dates, random ids or gzip timestamps: a regenerated site differs only where results did."""
    from mia_bench.site import build_site

    again = tmp_path / "again"
    build_site(again, [built.root / "runs"])
    files = sorted(p.relative_to(built.site) for p in built.site.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (built.site / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_an_attack_whose_null_control_failed_still_renders(built, tmp_path):
    """A null twin can fail while its attack succeeds (WSA finds no pseudo-members on the
    null CLAP): the attack's entry page must render and say it has no null result, not
    crash on the failed row's missing AUC."""
    import json

    from mia_bench.site import build_site

    runs = tmp_path / "runs"
    shutil.copytree(built.root / "runs" / "toy", runs / "toy")
    cells = runs / "toy" / "cells"
    null = next(r for r in built.records["toy"] if r.ok and r.cell.attack == "csa" and r.cell.is_control)
    record = json.loads((cells / f"{null.key}.json").read_text())
    failed = {k: record[k] for k in ("attack", "cell", "environment", "key", "schema", "target_label",
                                     "threat_model") if k in record}
    failed.update(status="error", error="RuntimeError: the null twin failed", traceback="Traceback: …")
    (cells / f"{null.key}.json").write_text(json.dumps(failed))
    for extra in cells.glob(f"{null.key}.*"):
        if extra.suffix != ".json":
            extra.unlink()
    site = tmp_path / "site"
    build_site(site, [runs])
    attack = next(r for r in built.records["toy"] if r.ok and r.cell.attack == "csa" and not r.cell.is_control)
    html = (site / "toy" / "entries" / f"{attack.key}.html").read_text()
    assert "the null control failed" in html and "no null control in this results folder" not in html
    assert f"{null.key}.html" in {p.name for p in (site / "toy" / "entries").iterdir()}


def test_track_page_leads_with_the_rows_over_seeds(built):
    """Each track page opens with the leaderboard's rows over seeds (what the flags count),
    one per attack, target and defense, before the per-seed table."""
    from mia_bench.leaderboard import aggregate_tracks
    from mia_bench.site.sources import slug

    tracks = aggregate_tracks(built.records["toy"], built.root / "runs" / "toy")
    assert tracks
    for track in tracks:
        page = built.site / "toy" / f"{slug(track.key)}.html"
        html = page.read_text()
        assert html.index('id="over-seeds"') < html.index('id="per-seed"') < html.index('id="board"')
        agg_table = html[html.index('id="agg"'):html.index("</table>", html.index('id="agg"'))]
        assert agg_table.count("<tr class=") == len(track.rows)
        assert not _parse(page).errors
