"""Result files: one JSON (a :class:`~mia_bench.records.CellRecord`) + one NPZ per finished
cell, written atomically; and the environment block every record carries.

A record carries everything needed to trace a number: the cell, attack name/version/
options/plugin, target and split fingerprints, the seed, cost, threat-model facts,
package versions and the git revision. Per-row scores live in the NPZ next to it.
"""

from __future__ import annotations

import io
import logging
import platform
import zipfile
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from .cache import atomic_write_bytes, atomic_write_json
from .records import CellRecord, RecordError, load_records, read_record

__all__ = ["CellRecord", "environment", "finished_record", "load_records", "load_scores", "write_cell"]
log = logging.getLogger(__name__)
PACKAGES = ("mia-bench", "torch", "open_clip_torch", "numpy", "scipy", "scikit-learn", "pyod", "datasets", "laion_clap",
            "opacus")


def _cpuinfo(field: str) -> str | None:
    """The first ``field`` of /proc/cpuinfo (Linux), or None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str | None:
    """The CPU's model name: numpy's and torch's SIMD kernels round differently on different
    CPUs, so an embedded world rendered on another CPU can differ in its last bits (and then
    in its fingerprint, and in every model trained on it)."""
    return _cpuinfo("model name") or platform.processor() or None


def cpu_simd() -> str | None:
    """The CPU's widest vector extension (AVX-512, AVX2, NEON), or None: two CPUs with one
    model name can differ in it, and with it in speed and in float rounding."""
    flags = set(((_cpuinfo("flags") or _cpuinfo("Features")) or "").split())
    return next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("asimd", "NEON"), ("neon", "NEON"))
                 if flag in flags), None)


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
        "cpu": cpu_model(),
        "packages": versions,
        "git_revision": git_revision(),
    }


def git_revision() -> str | None:
    repo = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        # Generated results and the README block spliced from them are outputs, not code: a
        # regeneration that rewrites them mid-way must not mark its own later results dirty.
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no", "--", ".",
             ":(exclude)leaderboards", ":(exclude)README.md"],
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


def write_cell(out_dir: Path, record: CellRecord, arrays: dict[str, np.ndarray] | None = None) -> None:
    """Scores first, then the JSON: a JSON on disk means the cell is complete."""
    json_path, npz_path = cell_paths(out_dir, record.key)
    if arrays is not None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(npz_path, buf.getvalue())
    atomic_write_json(json_path, record.to_json())


def _npz_intact(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def finished_record(out_dir: Path, key: str) -> CellRecord | None:
    """The finished record of a cell, or None when it must be (re)computed: absent, an
    error, or damaged (a damaged record or score file is logged with its path)."""
    json_path, npz_path = cell_paths(out_dir, key)
    if not json_path.exists():
        return None
    try:
        record = read_record(json_path)
    except RecordError as exc:
        log.warning("recomputing a cell whose result file is damaged: %s", exc)
        return None
    if not record.ok:
        return None
    if not _npz_intact(npz_path):
        log.warning("recomputing a cell whose score file is missing or damaged: %s", npz_path)
        return None
    return record


def load_scores(out_dir: Path, key: str) -> dict[str, np.ndarray]:
    """A cell's per-row arrays; :class:`RecordError` names the file when it is missing or
    damaged (a run into the folder recomputes the cell)."""
    _, npz_path = cell_paths(out_dir, key)
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 (np.load raises BadZipFile, EOFError, ValueError, OSError...)
        raise RecordError(f"{npz_path}: unreadable score file ({type(exc).__name__}: {exc}); run the suite "
                          "into this folder again to recompute the cell") from None
    missing = {"scores", "labels"} - set(arrays)
    if missing:
        raise RecordError(f"{npz_path}: score file lacks {sorted(missing)}; run the suite again to recompute it")
    return arrays
