"""Per-sample export: every finished cell's per-row scores as one tidy table.

One row per (cell, sample) (a cell is one seed), with the cell's provenance repeated on
each row, so that any statistic of the leaderboard can be recomputed from the table
alone: ``df.groupby("key")`` gives each cell's scores and labels. Read the CSV with
``pd.read_csv(path, keep_default_na=False, na_values=[""])``: pandas' default reads the
control value ``null`` as a missing value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .records import CellRecord
from .results import load_scores

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("parquet", "csv")
PROVENANCE = ("key", "attack", "attack_name", "attack_options", "attack_version", "attack_plugin", "target",
              "target_label", "control", "dataset", "defense", "seed", "unit", "target_fingerprint",
              "split_fingerprint", "git_revision")


def provenance(record: CellRecord) -> dict:
    cell, env = record.cell, record.environment
    return {"key": record.key, "attack": cell.attack, "attack_name": record.attack.name,
            "attack_options": json.dumps(record.attack.options, sort_keys=True),
            "attack_version": record.attack.version, "attack_plugin": record.attack.plugin, "target": cell.target,
            "target_label": record.target_label, "control": cell.control, "dataset": cell.dataset,
            "defense": cell.defense, "seed": cell.seed, "unit": cell.unit,
            "target_fingerprint": record.target.fingerprint if record.target else None,
            "split_fingerprint": record.split.fingerprint if record.split else None,
            "git_revision": env.get("git_revision")}


def cell_frame(out_dir: Path, record: CellRecord) -> pd.DataFrame:
    import pandas as pd

    z = load_scores(out_dir, record.key)
    n = z["scores"].shape[0]
    columns = {
        "row": np.arange(n),
        "id": z["ids"].astype(str),
        "group": z["groups"].astype(str) if "groups" in z else z["ids"].astype(str),
        "label": z["labels"].astype(bool),
        "score": z["scores"].astype(np.float64),
        # the attack's own hard call; <NA> where it makes none
        "decision": pd.array(z["decisions"].astype(bool), dtype="boolean") if "decisions" in z
        else pd.array([pd.NA] * n, dtype="boolean"),
    }
    frame = pd.DataFrame(columns)
    for name, value in provenance(record).items():
        frame.insert(len(frame.columns) - len(columns), name, value)  # provenance first, then the sample
    return frame


def samples_table(out_dir: Path, records: list[CellRecord]) -> pd.DataFrame:
    """The tidy table of every finished record (error records have no scores: skipped)."""
    import pandas as pd

    frames = [cell_frame(Path(out_dir), r) for r in records if r.ok]
    if not frames:
        raise ValueError(f"no finished cells with scores under {out_dir}/cells")
    table = pd.concat(frames, ignore_index=True)
    for col in PROVENANCE:  # repeated strings: categorical keeps parquet and memory small
        if table[col].dtype == object:
            table[col] = table[col].astype("category")
    return table


def write_table(table: pd.DataFrame, path: Path, fmt: str) -> Path:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not supported; valid: {', '.join(FORMATS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path
