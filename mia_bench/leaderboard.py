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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .cache import atomic_write_json, atomic_write_text
from .records import CellRecord


@dataclass
class Row:
    key: str
    attack: str
    target: str
    defense: str
    seed: int
    control: bool
    model_free: bool
    biometric: bool
    auc: float | None = None
    auc_ci: tuple | None = None
    tpr_1: float | None = None
    tpr_01: float | None = None
    accuracy: float | None = None
    decision_accuracy: float | None = None
    seconds_per_query: float | None = None
    wall_seconds: float | None = None
    queries: int | None = None
    shadow_models: int = 0
    n: str = ""
    error: str | None = None


@dataclass
class Track:
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)


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
    keep = COLUMNS
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
    "models it trained (shadows = how many; 0 when they came from the cache). queries = target queries per cell (text + media + gradient forwards). biometric = whether the "
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


def write_leaderboard(out_dir: Path, records: list[CellRecord], plots: bool = True) -> list[Track]:
    """Write leaderboard.{md,csv,json} (+ plots/) under ``out_dir``; return the tracks."""
    out_dir = Path(out_dir)
    tracks = build_tracks(records)
    atomic_write_text(out_dir / "leaderboard.md", "# Leaderboard\n\n" + to_markdown(tracks) + "\n")
    atomic_write_text(out_dir / "leaderboard.csv", to_csv(tracks))
    atomic_write_json(out_dir / "leaderboard.json", to_json(tracks))
    if plots:
        from .plots import plot_tracks

        plot_tracks(out_dir, tracks)
    return tracks


MARKER = "<!-- quick-leaderboard -->"


def splice_markdown(document: str, table: str, source: str) -> str:
    """Replace the text between two MARKER lines (or after a single one) with ``table``."""
    head, sep, rest = document.partition(MARKER)
    if not sep:
        raise ValueError(f"no {MARKER} marker in the document")
    _, sep2, tail = rest.partition(MARKER)
    body = (f"\n\nGenerated by `mia-bench run --out {source}` then `mia-bench leaderboard --out {source} "
            f"--readme README.md`; plots in `{source}/plots/`.\n\n" + table.replace("### ", "#### ") + "\n")
    return head + MARKER + body + MARKER + (tail if sep2 else rest)
