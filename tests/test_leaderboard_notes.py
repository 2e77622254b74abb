"""A target evaluated without a null control (a model trained elsewhere) is named in its
track with the reason its records give, instead of silently lacking a control row."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from mia_bench.leaderboard import aggregate_markdown, aggregate_tracks
from mia_bench.records import CellRecord, load_records
from mia_bench.results import write_cell
from mia_bench.target import NO_CONTROL_NOTE

QUICK = Path(__file__).resolve().parent.parent / "leaderboards" / "quick" / "cells"


def _external_run(tmp_path: Path, reason: str) -> Path:
    out = tmp_path / "run"
    (out / "cells").mkdir(parents=True)
    for path in sorted(QUICK.glob("*.json")):
        rec = CellRecord.from_json(json.loads(path.read_text()))
        if not rec.ok or rec.cell.is_control or rec.cell.attack != "csa" or rec.target is None:
            continue
        target = replace(rec.target, info={**rec.target.info, "null_control": reason})
        write_cell(out, replace(rec, target=target))
        shutil.copy(path.with_suffix(".npz"), out / "cells" / f"{rec.key}.npz")
    return out


def test_missing_null_control_is_noted_with_its_reason(tmp_path):
    out = _external_run(tmp_path, NO_CONTROL_NOTE)
    tracks = aggregate_tracks(load_records(out), out, n_boot=50)
    assert tracks and all(any("no null-target row" in n and "control_checkpoint=PATH" in n for n in t.notes)
                          for t in tracks)
    assert "Note: `clip-micro-vit`: no null-target row (null control omitted" in aggregate_markdown(tracks)


def test_a_supplied_null_checkpoint_needs_no_note(tmp_path):
    out = _external_run(tmp_path, "checkpoint /models/null.pt")
    assert all(t.notes == [] for t in aggregate_tracks(load_records(out), out, n_boot=50))

