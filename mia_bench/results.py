"""Result records: one JSON + one NPZ per finished cell, written atomically.

A record carries everything needed to trace a number: the cell, attack name/version/
options/plugin, target and split fingerprints, the seed, cost, threat-model facts,
package versions and the git revision. Per-row scores live in the NPZ next to it.
"""

from __future__ import annotations

import io
import json
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from .cache import atomic_write_bytes, atomic_write_json

RESULT_SCHEMA = 1
PACKAGES = ("mia-bench", "torch", "open_clip_torch", "numpy", "scikit-learn", "pyod", "datasets", "laion_clap")


@lru_cache(maxsize=1)
def environment() -> dict:
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "git_revision": git_revision(),
    }


def git_revision() -> str | None:
    repo = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("-dirty" if dirty else "")) if rev else None


def cell_paths(out_dir: Path, key: str) -> tuple[Path, Path]:
    base = Path(out_dir) / "cells"
    return base / f"{key}.json", base / f"{key}.npz"


def write_cell(out_dir: Path, key: str, record: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
    """Scores first, then the JSON: a JSON on disk means the cell is complete."""
    json_path, npz_path = cell_paths(out_dir, key)
    if arrays is not None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(npz_path, buf.getvalue())
    atomic_write_json(json_path, {"schema": RESULT_SCHEMA, **record})


def read_cell(out_dir: Path, key: str) -> dict | None:
    """The finished record of a cell, or None when absent, unreadable or an error."""
    json_path, npz_path = cell_paths(out_dir, key)
    try:
        record = json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if record.get("status") != "ok" or not npz_path.exists():
        return None
    return record


def load_records(out_dir: Path) -> list[dict]:
    records = []
    for path in sorted((Path(out_dir) / "cells").glob("*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return records


def load_scores(out_dir: Path, key: str) -> dict[str, np.ndarray]:
    _, npz_path = cell_paths(out_dir, key)
    with np.load(npz_path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
