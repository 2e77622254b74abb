"""Leaderboards: result records grouped into tracks and rendered for people and machines.

A track is one threat model on one dataset: (dataset, membership unit, what the attack
sends). Rows within a track are ranked by AUC; null-target rows (controls) and
model-free rows (the blind baseline) are listed after the attacks, since they certify
the benchmark rather than compete on it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, cast

from .cache import atomic_write_json, atomic_write_text
from .records import CellRecord
from .tracks import Row, Track

if TYPE_CHECKING:  # imported lazily at run time (numpy, scipy)
    from .aggregate import AggRow


THREAT_TITLES = {"text-only": "text-only queries", "biometric": "queries with the person's media"}


def _row(record: CellRecord) -> Row:
    cell, tm = record.cell, record.threat_model
    row = Row(
        key=record.key,
        attack=cell.attack,
        target=record.target_label,
        defense=cell.defense,
        seed=cell.seed,
        control=cell.is_control,
        model_free=record.model_free,
        biometric=bool(tm and tm.biometric_data_sent),
    )
    if not record.ok:
        row.error = record.error or "error"
        return row
    m, cost, split = record.metrics, record.cost, record.split
    assert m is not None and cost is not None and split is not None
    row.auc, row.auc_ci = m.auc, tuple(m.auc_ci)
    row.tpr_1, row.tpr_01 = m.tpr_at_1fpr, m.tpr_at_01fpr
    row.accuracy, row.decision_accuracy = m.balanced_accuracy, m.decision_accuracy
    row.seconds_per_query = cost.seconds_per_query
    row.wall_seconds = cost.seconds
    row.queries = cost.target_queries_total
    row.shadow_models = cost.shadow_models_trained
    row.n = f"{split.n_members}/{split.n_nonmembers}"
    return row


def build_tracks(records: list[CellRecord]) -> list[Track]:
    tracks: dict[str, Track] = {}
    model_free = []
    for rec in records:
        cell, threat = rec.cell, rec.threat or "text-only"
        if threat == "model-free":
            model_free.append(rec)
            continue
        key = f"{cell.dataset}|{cell.unit}|{threat}"
        title = f"{cell.dataset} · {cell.unit}-level · {THREAT_TITLES[threat]}"
        tracks.setdefault(key, Track(key, title)).rows.append(_row(rec))
    for rec in model_free:  # the blind control appears in every track of its dataset and unit
        cell = rec.cell
        homes = [t for t in tracks.values() if t.key.startswith(f"{cell.dataset}|{cell.unit}|")]
        if not homes:
            key = f"{cell.dataset}|{cell.unit}|model-free"
            homes = [tracks.setdefault(key, Track(key, f"{cell.dataset} · {cell.unit}-level · model-free"))]
        for track in homes:
            track.rows.append(_row(rec))
    for track in tracks.values():
        track.rows = _dedupe_model_free(track.rows)
        track.rows.sort(key=lambda r: (r.model_free, r.control, r.error is not None, -(r.auc or 0)))
    return [tracks[k] for k in sorted(tracks)]


def _dedupe_model_free(rows: list[Row]) -> list[Row]:
    """A model-free attack scores the same on every target: keep one row per (attack, seed)."""
    seen, out = set(), []
    for r in rows:
        if r.model_free:
            sig = (r.attack, r.seed, r.defense)
            if sig in seen:
                continue
            seen.add(sig)
            r.target = "(none: model-free)"
        out.append(r)
    return out


# --- formatting --------------------------------------------------------------------
def fmt(x: float | None, digits: int = 3) -> str:
    return "n/r" if x is None else f"{x:.{digits}f}"


def fmt_auc(row: Row) -> str:
    if row.auc is None:
        return "error"
    lo, hi = row.auc_ci or (None, None)
    return f"{row.auc:.3f} [{fmt(lo, 2)}, {fmt(hi, 2)}]"


COLUMNS = ("attack", "target", "defense", "AUC [95% CI]", "TPR@1%", "TPR@0.1%", "acc", "s/query", "wall s",
           "queries", "shadows", "biometric")


def defense_label(spec: str) -> str:
    """``early-stopping?epoch=5`` -> ``early-stopping(5)``; ``none`` -> ``-``."""
    name, _, query = spec.partition("?")
    if name == "none":
        return "-"
    values = [kv.partition("=")[2] for kv in query.split("&") if kv]
    return name + (f"({','.join(values)})" if values else "")


def _columns(tracks_or_rows) -> tuple[str, ...]:
    rows = [r for t in tracks_or_rows for r in t.rows]
    keep: tuple[str, ...] = COLUMNS
    if all(r.defense == "none" for r in rows):
        keep = tuple(c for c in keep if c != "defense")
    return keep


def row_cells(row: Row, show_seed: bool) -> list[str]:
    if row.error:
        return [row.attack, row.target, defense_label(row.defense), "error: " + row.error[:60]] + [""] * 8
    acc = fmt(row.decision_accuracy if row.decision_accuracy is not None else row.accuracy)
    cells = [
        row.attack + (f" (seed {row.seed})" if show_seed else ""),
        row.target,
        defense_label(row.defense),
        fmt_auc(row),
        fmt(row.tpr_1),
        fmt(row.tpr_01),
        acc,
        f"{row.seconds_per_query:.4f}" if row.seconds_per_query is not None else "",
        f"{row.wall_seconds:.1f}" if row.wall_seconds is not None else "",
        str(row.queries or 0),
        str(row.shadow_models),
        "yes" if row.biometric else "no",
    ]
    return cells


def to_markdown(tracks: list[Track]) -> str:
    out = []
    cols = _columns(tracks)
    for t in tracks:
        show_seed = len({r.seed for r in t.rows}) > 1
        out.append(f"### {t.title}\n")
        out.append("| " + " | ".join(cols) + " |")
        out.append("|" + "---|" * len(cols))
        for r in t.rows:
            cells = dict(zip(COLUMNS, row_cells(r, show_seed)))
            out.append("| " + " | ".join(cells[c].replace("|", "\\|") for c in cols) + " |")
        out.append("")
    out.append(NOTES)
    return "\n".join(out)


NOTES = (
    "AUC with a stratified-bootstrap 95% CI. TPR@x% = largest TPR at FPR <= x%; n/r = not resolvable "
    "(fewer than 1/x non-members). acc = balanced accuracy at the attack's own decision, else at the best "
    "threshold. s/query = the audit's own work per query; wall s = the cell's wall time, including any shadow "
    "models it trained (shadows = how many; 0 when they came from the cache). queries = target queries per cell "
    "(text + media + gradient forwards). biometric = whether the "
    "attack sends the person's images/audio to the target. (null) = same recipe trained without the members: "
    "a control that must sit at chance."
)


def to_csv(tracks: list[Track]) -> str:
    buf = io.StringIO()
    fields = ["track"] + list(Row.__dataclass_fields__)
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for t in tracks:
        for r in t.rows:
            d = asdict(r)
            d["auc_ci"] = json.dumps(d["auc_ci"])
            writer.writerow({"track": t.title, **d})
    return buf.getvalue()


def to_json(tracks: list[Track]) -> list[dict]:
    return [{"track": t.title, "key": t.key, "rows": [asdict(r) for r in t.rows]} for t in tracks]


def _short(label: str) -> str:
    """``clip-micro-vit?epochs=30 (null)`` -> ``clip-micro-vit* (null)``: options live in md/json."""
    head, sep, _ = label.partition("?")
    null = " (null)" if label.endswith(" (null)") else ""
    return head.removesuffix(" (null)") + ("*" if sep else "") + null


NARROW = {"AUC [95% CI]": "AUC [CI]", "TPR@0.1%": "@0.1%", "TPR@1%": "@1%", "biometric": "bio"}


def _compact_auc(row: Row) -> str:
    lo, hi = row.auc_ci or (None, None)
    strip = lambda x: fmt(x, 2).replace("0.", ".", 1) if x is not None and x < 1 else fmt(x, 2)  # noqa: E731
    return f"{row.auc:.2f} [{strip(lo)},{strip(hi)}]"


NAME_COLUMNS = ("attack", "target")
MIN_NAME_WIDTH = 12


def render_terminal(tracks: list[Track], console=None) -> None:
    """Tables that fit the terminal: on narrow ones, fewer columns and short target names.
    Numbers are never cut: their columns get the width of their longest cell, and long
    attack and target names wrap over several lines instead."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    wide = console.width >= 118 and all(  # else the narrow layout, whose numbers are shorter
        layout[2][1] <= console.width for layout in _layout(tracks, console.width, True)[1].values())
    keep, layouts = _layout(tracks, console.width, wide)
    for t in tracks:
        body, headers, (widths, needed) = layouts[t.key]
        table = Table(title=t.title, title_justify="left", box=box.SIMPLE_HEAD if wide else None,
                      pad_edge=False, padding=(0, 1) if wide else (0, 1, 0, 0))
        for col in keep:
            name = col in NAME_COLUMNS
            table.add_column(headers[col], width=widths[col], no_wrap=False, overflow="fold",
                             justify="left" if name else "right")
        for r, cells in body:
            style = "red" if r.error else ("dim" if (r.control or r.model_free) else None)
            table.add_row(*(cells[c] for c in keep), style=style)
        _print_at_least(console, table, needed)
        console.print()
    console.print(NOTES, style="dim")


def _layout(tracks: list[Track], width: int, wide: bool):
    """The kept columns, and per track: its rows' cells, the headers and the column widths."""
    keep = [c for c in _columns(tracks) if wide or c not in ("queries", "shadows", "wall s")]
    if not wide and all(r.tpr_01 is None for t in tracks for r in t.rows):
        keep.remove("TPR@0.1%")  # all "not resolvable": no room to waste on narrow terminals
    headers = {c: c if wide else NARROW.get(c, c) for c in keep}
    layouts = {}
    for t in tracks:
        show_seed = len({r.seed for r in t.rows}) > 1
        body = [(r, _terminal_cells(r, show_seed, wide)) for r in t.rows]
        layouts[t.key] = body, headers, _column_widths(keep, headers, [c for r, c in body if not r.error], width, wide)
    return keep, layouts


def _print_at_least(console, table, width: int) -> None:
    """Print at the console's width, or wider when even wrapped names leave the numbers no
    room (the terminal then wraps lines: a number is never cut)."""
    if width <= console.width:
        console.print(table)
        return
    old = console.width
    console.width = width
    try:
        console.print(table)
    finally:
        console.width = old


def _terminal_cells(r: Row, show_seed: bool, wide: bool) -> dict[str, str]:
    cells = dict(zip(COLUMNS, row_cells(r, show_seed)))
    if not wide and not r.error:
        cells["target"] = _short(cells["target"])
        cells["AUC [95% CI]"] = _compact_auc(r)
        cells["s/query"] = f"{r.seconds_per_query:.0e}" if r.seconds_per_query else ""
    return cells


def _column_widths(keep: list[str], headers: dict[str, str], cells: list[dict[str, str]], width: int,
                   wide: bool) -> tuple[dict[str, int], int]:
    """Number columns: their longest cell (error rows wrap inside). Name columns share
    what is left, each at most its longest name. Also returns the width the table needs."""
    longest = {c: max([len(headers[c])] + [len(row[c]) for row in cells]) for c in keep}
    widths = {c: longest[c] for c in keep if c not in NAME_COLUMNS}
    names = [c for c in keep if c in NAME_COLUMNS]
    overhead = 3 * len(keep) + 1 if wide else len(keep)  # padding (and, wide, the box's separators and edges)
    room = width - sum(widths.values()) - overhead
    for i, c in enumerate(sorted(names, key=lambda c: longest[c])):  # the shorter name column first
        share = max(MIN_NAME_WIDTH, room // (len(names) - i))
        widths[c] = max(min(longest[c], share), min(longest[c], MIN_NAME_WIDTH))
        room -= widths[c]
    return widths, sum(widths.values()) + overhead


def write_leaderboard(out_dir: Path, records: list[CellRecord], plots: bool = True,
                      n_boot: int = 1000) -> list[Track]:
    """Write leaderboard.{md,csv,json} (+ plots/) under ``out_dir``: the aggregated view (one
    row over all seeds); return its tracks. Plots draw each seed's ROC."""
    out_dir = Path(out_dir)
    tracks = aggregate_tracks(records, out_dir, n_boot)
    atomic_write_text(out_dir / "leaderboard.md", "# Leaderboard\n\n" + aggregate_markdown(tracks) + "\n")
    atomic_write_text(out_dir / "leaderboard.csv", aggregate_csv(tracks))
    atomic_write_json(out_dir / "leaderboard.json", aggregate_json(tracks))
    atomic_write_text(out_dir / "summary.md", "# Summary\n\n" + summary_markdown(tracks))
    if plots:
        from .plots import plot_tracks

        plot_tracks(out_dir, build_tracks(records))
    return tracks


# --- the aggregated view: one row per (attack, target, dataset, unit, defense) over all seeds ---
def aggregate_tracks(records: list[CellRecord], out_dir: Path, n_boot: int = 1000) -> list[Track]:
    """The tracks of :func:`build_tracks` with each row's seeds merged into one
    :class:`~mia_bench.aggregate.AggRow` (statistics in :mod:`mia_bench.aggregate`); reads
    the per-row scores from ``out_dir``. Controls are flagged when their CI excludes 0.5,
    attacks when theirs lies below it; attack rows carry margins over the blind baseline
    and over their null control."""

    by_key = {r.key: r for r in records}
    out = []
    for track in build_tracks(records):
        dataset, unit, _ = track.key.split("|")
        groups: dict[tuple, list[Row]] = {}
        for row in track.rows:
            groups.setdefault((row.attack, row.target, row.defense), []).append(row)
        rows, data = [], {}
        for seed_rows in groups.values():
            row, seeds, replicates = _aggregate_row(seed_rows, by_key, Path(out_dir), dataset, unit, n_boot)
            rows.append(row)
            data[id(row)] = (seeds, replicates)
        _add_margins(rows, data)
        rows.sort(key=lambda r: (r.model_free, r.control, r.error is not None, -(r.auc or 0)))
        out.append(Track(track.key, track.title, rows, _missing_controls(track, by_key)))
    return out


def _missing_controls(track: Track, by_key: dict) -> list[str]:
    """Targets of this track that have no null-control row, with the reason their records give
    (a model trained elsewhere, evaluated without its owner's null twin)."""
    with_null = {r.target.removesuffix(" (null)") for r in track.rows if r.control}
    notes = {}
    for r in track.rows:
        rec = by_key.get(r.key)
        reason = (rec.target.info.get("null_control") if rec is not None and rec.target is not None else None)
        if reason and not reason.startswith("checkpoint") and r.target not in with_null:
            notes[r.target] = f"`{r.target}`: no null-target row ({reason})."
    return list(notes.values())


def seed_scores(record: CellRecord, out_dir: Path):
    import numpy as np

    from .aggregate import SeedScores
    from .results import load_scores

    z = load_scores(out_dir, record.key)
    scores, labels, ids = z["scores"].astype(np.float64), z["labels"].astype(bool), z["ids"].astype(str)
    # records written before the NPZ kept identity groups: each row its own group
    groups = z["groups"].astype(str) if "groups" in z else ids
    if "decisions" in z:
        decisions = z["decisions"].astype(bool)
    else:
        assert record.metrics is not None  # only successful cells reach here: they all carry metrics
        decisions = scores >= record.metrics.threshold
    return SeedScores(record.cell.seed, scores, labels, groups, decisions, ids), "decisions" in z


def _loadable_scores(ok: list[Row], by_key: dict, out_dir: Path):
    """Each finished seed's scores; a damaged score file is named and its seed left out (a
    run into the folder recomputes it), never a crash of the whole leaderboard."""
    import logging

    from .records import RecordError

    loaded, kept = [], []
    for r in ok:
        try:
            loaded.append(seed_scores(by_key[r.key], out_dir))
            kept.append(r)
        except RecordError as exc:
            logging.getLogger(__name__).warning("leaving a seed out of the leaderboard: %s", exc)
    return loaded, kept


def _aggregate_row(seed_rows: list[Row], by_key: dict, out_dir: Path, dataset: str, unit: str, n_boot: int):
    from .aggregate import AggRow, aggregate_seeds, row_flags

    seed_rows = _one_per_seed(seed_rows, by_key)
    first, ok = seed_rows[0], [r for r in seed_rows if not r.error]
    row = AggRow(key=first.key, attack=first.attack, target=first.target, defense=first.defense, seed=first.seed,
                 control=first.control, model_free=first.model_free, biometric=first.biometric, dataset=dataset,
                 unit=unit, seeds=[r.seed for r in seed_rows], per_seed=[asdict(r) for r in seed_rows],
                 seed_errors={str(r.seed): r.error for r in seed_rows if r.error})
    loaded, ok = _loadable_scores(ok, by_key, out_dir)
    if not ok:
        row.error = first.error or "every seed's score file is damaged: run the suite into this folder again"
        return row, None, None
    seeds = [sd for sd, _ in loaded]
    own = {has for _, has in loaded}
    agg = aggregate_seeds(seeds, n_boot=n_boot)
    row.key = _row_key(first, dataset, unit)
    row.auc, row.auc_ci, row.auc_sd = agg.auc_mean, agg.auc_ci, agg.auc_sd
    row.auc_per_seed = {str(k): v for k, v in agg.auc_per_seed.items()}
    row.tpr_1 = agg.tpr_1.tpr if agg.tpr_1 else None
    row.tpr_01 = agg.tpr_01.tpr if agg.tpr_01 else None
    row.tpr_1_pooled = asdict(agg.tpr_1) if agg.tpr_1 else None
    row.tpr_01_pooled = asdict(agg.tpr_01) if agg.tpr_01 else None
    row.accuracy, row.accuracy_ci = agg.balanced_accuracy, agg.balanced_accuracy_ci
    row.precision, row.precision_ci = agg.precision, agg.precision_ci
    row.recall, row.recall_ci, row.recall_exact_ci = agg.recall, agg.recall_ci, agg.recall_exact_ci
    row.decision_source = {frozenset({True}): "attack", frozenset({False}): "best threshold per seed (in-sample)"}.get(
        frozenset(own), "mixed")
    row.seconds_per_query = _mean([r.seconds_per_query for r in ok])
    row.wall_seconds = _mean([r.wall_seconds for r in ok])  # per seed
    row.queries = round(_mean([r.queries or 0 for r in ok]) or 0)  # ok is not empty: never None
    row.shadow_models = sum(r.shadow_models for r in ok)
    row.n = " ".join(dict.fromkeys(r.n for r in ok)) + f" x{len(ok)}"
    row.flags = row_flags(row)
    return row, seeds, agg.replicates["auc"]


def _one_per_seed(seed_rows: list[Row], by_key: dict) -> list[Row]:
    """A folder can hold two records of one seed (an older attack version next to a re-run):
    the newest finished one counts, so a seed is never counted twice."""
    import logging

    best: dict[int, Row] = {}
    for r in seed_rows:
        rank = (r.error is None, by_key[r.key].created or "")
        if r.seed in best:
            logging.getLogger(__name__).warning("two records of %s on %s, seed %s: using the newest finished one",
                                                r.attack, r.target, r.seed)
            old = best[r.seed]
            if rank <= (old.error is None, by_key[old.key].created or ""):
                continue
        best[r.seed] = r
    return [best[s] for s in sorted(best)]


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _row_key(row: Row, dataset: str, unit: str) -> str:
    from .cache import stable_hash

    return stable_hash({"attack": row.attack, "target": row.target, "dataset": dataset, "unit": unit,
                        "defense": row.defense})


def _add_margins(rows: list, data: dict) -> None:
    """Margin of each attack row over the best model-free row and over its own null control,
    with a paired bootstrap interval when both were scored on the same rows of the same seeds."""
    from .aggregate import paired
    from .metrics import _percentiles

    def margin(row, other):
        diff = row.auc - other.auc
        (a, reps_a), (b, reps_b) = data[id(row)], data[id(other)]
        if not paired(a, b):
            return diff, None
        return diff, _percentiles(reps_a - reps_b, 0.95)

    for row in rows:
        if row.error or row.control or row.model_free:
            continue
        blinds = [r for r in rows if r.model_free and not r.error and r.defense == row.defense]
        if blinds:
            best = max(blinds, key=lambda r: r.auc)
            row.margin_blind, row.margin_blind_ci = margin(row, best)
            row.blind_attack = best.attack
        null = [r for r in rows if r.control and not r.error and r.attack == row.attack and r.defense == row.defense
                and r.target == row.target + " (null)"]
        if null:
            row.margin_null, row.margin_null_ci = margin(row, null[0])


# --- writers of the aggregated view ---------------------------------------------------------
def _ci_text(ci, digits: int = 2) -> str:
    lo, hi = ci or (None, None)
    return "" if lo is None else f"[{fmt(lo, digits)}, {fmt(hi, digits)}]"


def _signed(x: float | None, ci) -> str:
    return "" if x is None else f"{x:+.3f}" + (f" {_ci_text(ci)}" if ci else "")


def _pooled_cell(pooled: dict | None) -> str:
    return "n/r" if pooled is None else f"{pooled['tpr']:.3f} {_ci_text(pooled['ci_bootstrap'])}"


AGG_COLUMNS = ("attack", "target", "defense", "seeds", "AUC mean [95% CI]", "SD", "vs blind", "vs null",
               "TPR@1% (pooled)", "TPR@0.1% (pooled)", "acc", "precision", "recall", "s/query", "wall s/seed", "queries",
               "shadows", "biometric", "check")


def seeds_text(row) -> str:
    """The seeds a row's figures stand on, and how many more failed (their errors are in the JSON)."""
    errors = f" ({len(row.seed_errors)} failed)" if row.seed_errors else ""
    return ",".join(str(s) for s in row.seeds if str(s) not in row.seed_errors) + errors


def aggregate_cells(row) -> dict[str, str]:
    if row.error:
        return {"attack": row.attack, "target": row.target, "defense": defense_label(row.defense),
                "seeds": ",".join(map(str, row.seeds)), "AUC mean [95% CI]": "error: " + row.error[:60]}
    return {
        "attack": row.attack, "target": row.target, "defense": defense_label(row.defense),
        "seeds": seeds_text(row),
        "AUC mean [95% CI]": f"{row.auc:.3f} {_ci_text(row.auc_ci)}", "SD": "" if row.auc_sd is None else fmt(row.auc_sd),
        "vs blind": _signed(row.margin_blind, row.margin_blind_ci),
        "vs null": _signed(row.margin_null, row.margin_null_ci),
        "TPR@1% (pooled)": _pooled_cell(row.tpr_1_pooled), "TPR@0.1% (pooled)": _pooled_cell(row.tpr_01_pooled),
        "acc": f"{fmt(row.accuracy)} {_ci_text(row.accuracy_ci)}",
        "precision": "" if row.precision is None else f"{row.precision:.3f} {_ci_text(row.precision_ci)}",
        "recall": "" if row.recall is None else f"{row.recall:.3f} {_ci_text(row.recall_ci)}",
        "s/query": f"{row.seconds_per_query:.4f}" if row.seconds_per_query is not None else "",
        "wall s/seed": f"{row.wall_seconds:.1f}" if row.wall_seconds is not None else "",
        "queries": str(row.queries or 0), "shadows": str(row.shadow_models), "biometric": "yes" if row.biometric else "no",
        "check": "; ".join(f.upper() for f in row.flags),
    }


def agg_rows(track: Track) -> list[AggRow]:
    """The rows of a track from :func:`aggregate_tracks`, which are all AggRows."""
    return cast("list[AggRow]", track.rows)


def _operating_points(track: Track) -> list[str]:
    header = ("| attack | target | FPR <= | TPR [bootstrap CI] | exact CI (Clopper-Pearson) | k/n "
              "| realised FPR (fp/n) | threshold |")
    out = [header, "|" + "---|" * 8]
    for r in agg_rows(track):
        for pooled in (r.tpr_1_pooled, r.tpr_01_pooled) if not r.error else ():
            if pooled is None:
                continue
            thr = "none (k = 0)" if pooled["threshold"] is None else f"{pooled['threshold']:.4g}"
            out.append(f"| {r.attack} | {r.target} | {pooled['fpr_target']:g} | {pooled['tpr']:.3f} "
                       f"{_ci_text(pooled['ci_bootstrap'], 3)} | {_ci_text(pooled['ci_exact'], 3)} | "
                       f"{pooled['k']}/{pooled['n']} | {pooled['realised_fpr']:.4f} ({pooled['fp']}/{pooled['n_neg']}) "
                       f"| {thr} |")
    return out if len(out) > 2 else []


def _checks(track: Track) -> list[str]:
    lines = []
    for r in agg_rows(track):
        for flag in r.flags:
            lines.append(f"- **{flag}**: {r.attack} on {r.target}" + (f" ({defense_label(r.defense)})"
                         if r.defense != "none" else "") + f": AUC {r.auc:.3f} {_ci_text(r.auc_ci, 3)} over seeds "
                         f"{', '.join(map(str, r.seeds))}")
    return lines


def aggregate_markdown(tracks: list[Track]) -> str:
    rows = [r for t in tracks for r in t.rows]
    cols = [c for c in AGG_COLUMNS if c != "defense" or any(r.defense != "none" for r in rows)]
    out = []
    for t in tracks:
        out += [f"### {t.title}\n", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in t.rows:
            cells = aggregate_cells(r)
            out.append("| " + " | ".join(cells.get(c, "").replace("|", "\\|") for c in cols) + " |")
        checks = _checks(t)
        out += ["", "Checks: " + ("all controls at chance, no inverted attack." if not checks else "")] + checks
        if t.notes:
            out += [""] + [f"Note: {n}" for n in t.notes]
        points = _operating_points(t)
        if points:
            out += ["", "Pooled operating points:", ""] + points
        out.append("")
    out.append(AGG_NOTES)
    return "\n".join(out)


def summary_markdown(tracks: list[Track]) -> str:
    """The short view for prose and the README: per track, one line per (attack, defense) with
    the trained target's and its null control's AUC side by side, the pooled TPR at 1% FPR,
    the seeds and any check. The full table is ``leaderboard.md``."""
    out = []
    for t in tracks:
        pairs: dict[tuple, dict[str, AggRow]] = {}
        for r in agg_rows(t):
            side = "model-free" if r.model_free else ("null" if r.control else "target")
            pairs.setdefault((r.attack, r.defense, r.target.replace(" (null)", "")), {})[side] = r
        defended = any(d != "none" for _, d, _ in pairs)
        cols = ["attack", *(["defense"] if defended else []), "target", "seeds", "AUC [95% CI]", "null target",
                "TPR@1% (pooled)", "check"]
        out += [f"### {t.title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for (attack, defense, target), sides in pairs.items():
            null = sides.get("null")
            # a run of the null control alone (a control check) has no trained-target row: its
            # AUC belongs in the null column, not under the target's name
            main = sides.get("target") or sides.get("model-free")
            shown = main or sides["null"]
            flags = sorted({f.upper() for r in sides.values() for f in r.flags})
            cells = [attack, *([defense_label(defense)] if defended else []),
                     "(model-free)" if shown.model_free else target,
                     ",".join(map(str, shown.seeds)) if shown.auc is None else seeds_text(shown),
                     "not run" if main is None else "error" if main.auc is None else
                     f"{main.auc:.3f} {_ci_text(main.auc_ci)}",
                     "" if null is None else "error" if null.auc is None else f"{null.auc:.3f} {_ci_text(null.auc_ci)}",
                     _pooled_cell(shown.tpr_1_pooled), "; ".join(flags)]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out.append("")
    out.append("AUC: mean over seeds with a two-level bootstrap 95% CI; null target: the same attack on the target "
               "trained without the members (a control: its CI should contain 0.5). Full rows, margins and "
               "operating points: leaderboard.md.")
    return "\n".join(out) + "\n"


AGG_NOTES = (
    "One row per (attack, target, dataset, unit, defense) over all seeds of the run; each seed draws its own split "
    "and trains its own target, null target and shadows. AUC: mean of the per-seed AUCs, 95% CI from a two-level "
    "bootstrap (seeds, then members and non-members within each seed, whole identities at a time); SD: across seeds; "
    "per-seed values in leaderboard.json. vs blind / vs null: AUC minus the best model-free row's / minus the same "
    "attack's on the null target, with a paired bootstrap CI. TPR@x%: on the pooled scores of all seeds at one "
    "threshold (largest TPR at pooled FPR <= x%), bootstrap CI; the operating points give the threshold, realised "
    "FPR, counts and an exact Clopper-Pearson interval (threshold held fixed). n/r = fewer than 1/x pooled "
    "non-members. acc, precision, recall: pooled, of the attack's own decisions, else of each seed's best-balanced-"
    "accuracy threshold (in-sample, so optimistic); acc is balanced accuracy. wall s/seed: mean cell wall time per seed. "
    "check: CONTROL OFF CHANCE = a null-target or "
    "model-free row whose CI excludes 0.5; INVERTED = an attack whose CI lies wholly below 0.5 (a signal in the "
    "wrong direction); DEV SEEDS = seeds >= 100, which are for tuning, not reporting."
)


def aggregate_csv(tracks: list[Track]) -> str:
    from .aggregate import AggRow

    buf = io.StringIO()
    fields = ["track"] + [f for f in AggRow.__dataclass_fields__ if f != "per_seed"]
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for t in tracks:
        for r in t.rows:
            d = {k: json.dumps(v) if isinstance(v, (tuple, list, dict)) else v for k, v in asdict(r).items()}
            writer.writerow({"track": t.title, **d})
    return buf.getvalue()


def aggregate_json(tracks: list[Track]) -> list[dict]:
    return [{**t, "notes": tr.notes} for t, tr in zip(to_json(tracks), tracks)]
