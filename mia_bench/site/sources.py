"""Where a site's results come from: results folders found under the paths given.

A path is either a results folder (it holds ``cells/``) or a folder searched for results
folders (``leaderboards/`` holds a dozen). Each results folder becomes one *board* of the
site; boards are kept apart because the same cell (same key) can sit in two folders (the
quick suite and the defense sweep share their undefended cells), and mixing them would
list one result twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MiaBenchError
from ..leaderboard import aggregate_tracks, build_tracks
from ..records import CellRecord, load_records
from ..tracks import Track


class SiteError(MiaBenchError):
    """The site cannot be built from what was given (no results, an output inside a results folder)."""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


@dataclass
class Source:
    """One results folder: its records, its tracks (one row per seed), the same tracks
    aggregated over seeds as on the folder's leaderboard (whose flags and margins the site
    reports), and where its pages go."""

    name: str
    path: Path
    records: list[CellRecord]
    tracks: list[Track]
    agg_tracks: list[Track] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return slug(self.name)

    @property
    def seeds(self) -> list[int]:
        return sorted({r.cell.seed for r in self.records})

    @property
    def defenses(self) -> list[str]:
        return sorted({r.cell.defense for r in self.records})

    @property
    def modalities(self) -> list[str]:
        return sorted({r.split.modality for r in self.records if r.split is not None})

    @property
    def record_by_key(self) -> dict[str, CellRecord]:
        return {r.key: r for r in self.records}


def find_results_dirs(path: Path) -> list[tuple[str, Path]]:
    """``(name, folder)`` of every results folder at or under ``path``, sorted by name."""
    path = Path(path)
    if not path.is_dir():
        raise SiteError(f"results folder {path} does not exist; give a folder written by `mia-bench run --out`")
    if (path / "cells").is_dir():
        return [(path.resolve().name, path)]
    found = sorted(p.parent for p in path.rglob("cells") if p.is_dir() and any(p.glob("*.json")))
    return [(p.relative_to(path).as_posix(), p) for p in found]


def load_sources(paths: list[Path], out: Path | None = None, n_boot: int = 1000) -> list[Source]:
    """Every results folder under ``paths`` as a :class:`Source`; names made unique. The
    aggregated tracks use the leaderboard's bootstrap (same ``n_boot``: the same numbers as
    the folder's ``leaderboard.md``)."""
    sources, names = [], set()
    for given in paths:
        dirs = find_results_dirs(given)
        if not dirs:
            raise SiteError(f"no results under {given}: no folder there holds cells/*.json. "
                            f"Run `mia-bench run --out {given}` first")
        for name, folder in dirs:
            if out is not None and Path(out).resolve() in (folder.resolve(), *folder.resolve().parents):
                raise SiteError(f"the site folder {out} holds the results folder {folder}, and building a site "
                                "replaces its folder; choose an --out that holds no results")
            records = load_records(folder)
            if not records:
                continue
            unique, i = name, 2
            while slug(unique) in names:
                unique, i = f"{name}-{i}", i + 1
            names.add(slug(unique))
            sources.append(Source(unique, folder, records, build_tracks(records),
                                  aggregate_tracks(records, folder, n_boot)))
    if not sources:
        raise SiteError(f"no readable result records under {', '.join(map(str, paths))}")
    return sources
