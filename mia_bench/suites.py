"""Suites: named benchmark grids as data files (TOML).

A suite file has a name, seeds, bootstrap settings and one or more ``[[grid]]`` tables,
each a cross product of datasets x targets x attacks x defenses. Named suites live in
``leaderboards/suites/NAME.toml`` of the source tree; any path to a TOML file works too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from .errors import MiaBenchError, UnknownComponentError
from .plan import Plan, build_plan

SUITES_DIR = Path(__file__).resolve().parent.parent / "leaderboards" / "suites"
GRID_KEYS = {"datasets", "targets", "attacks", "defenses"}


def named_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml")) if SUITES_DIR.is_dir() else []


def load_suite(name_or_path: str) -> dict:
    path = Path(name_or_path)
    if not path.suffix == ".toml":
        path = SUITES_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise UnknownComponentError("suite", name_or_path, named_suites())
    if not path.is_file():
        raise MiaBenchError(f"Suite file not found: {path}. Pass a named suite ({', '.join(named_suites())}) or a .toml path.")
    with open(path, "rb") as f:
        try:
            suite = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise MiaBenchError(f"Suite file {path} is not valid TOML: {exc}") from None
    suite.setdefault("name", path.stem)
    if not suite.get("grid"):
        raise MiaBenchError(f"Suite {path} has no [[grid]] table; each grid lists datasets, targets, attacks.")
    for i, grid in enumerate(suite["grid"]):
        unknown = set(grid) - GRID_KEYS
        missing = {"datasets", "targets", "attacks"} - set(grid)
        if unknown or missing:
            raise MiaBenchError(
                f"Suite {path}, grid {i + 1}: unknown keys {sorted(unknown)} / missing keys {sorted(missing)}; "
                f"valid keys: {', '.join(sorted(GRID_KEYS))}."
            )
    suite["path"] = str(path)
    return suite


def plan_suite(suite: dict, seeds: list[int] | None = None) -> Plan:
    """One plan for all grids of a suite (cells de-duplicated, order kept)."""
    seeds = seeds or suite.get("seeds") or [0]
    merged: Plan | None = None
    for grid in suite["grid"]:
        plan = build_plan(grid["attacks"], grid["targets"], grid["datasets"], grid.get("defenses"), seeds)
        if merged is None:
            merged = plan
            continue
        for store in ("attacks", "targets", "datasets", "defenses"):
            for k, v in getattr(plan, store).items():
                getattr(merged, store).setdefault(k, v)
        known = set(merged.cells)
        merged.cells += [c for c in plan.cells if c not in known]
    merged.settings = {k: v for k, v in suite.items() if k != "grid"}
    return merged
