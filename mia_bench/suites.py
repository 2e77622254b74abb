"""Suites: named benchmark grids as data files (TOML).

A suite file has a name, seeds, bootstrap settings and one or more ``[[grid]]`` tables,
each a cross product of datasets x targets x attacks x defenses. Named suites ship as
package data in ``mia_bench/builtin/suites/NAME.toml`` (read with importlib.resources, so
an installed wheel has them); any path to a TOML file works too.

The file's schema is :class:`SuiteFile` (pydantic, strict): unknown keys are errors (a
misspelt ``seed = [3]`` would otherwise run the default seeds), and a string where a
list belongs is never split into characters. Errors name the file, the key and the fix.
To add a suite setting, add a field to :class:`SuiteFile` (with a description: it is
the documentation the error messages quote).
"""

from __future__ import annotations

import difflib
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import tomllib
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import MiaBenchError, UnknownComponentError
from .plan import Plan, build_plan

SUITES_DIR = Path(str(files("mia_bench").joinpath("builtin", "suites")))


class ComponentTable(BaseModel):
    """A component written as a table: ``{name = "csa-aug", options = {n_views = 8}}``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    arg: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


Spec = str | ComponentTable


class Grid(BaseModel):
    """One ``[[grid]]`` table: the cross product of its lists."""

    model_config = ConfigDict(extra="forbid", strict=True)
    datasets: list[Spec] = Field(min_length=1, description='dataset specs, e.g. ["pii-faces"]')
    targets: list[Spec] = Field(min_length=1, description='target specs, e.g. ["clip-micro-vit"]')
    attacks: list[Spec] = Field(min_length=1, description='attack specs, e.g. ["csa", "umid?k=4"]')
    defenses: list[Spec] | None = Field(None, min_length=1, description='defense specs (default ["none"])')


class SuiteFile(BaseModel):
    """The whole file. Extend here: one field per setting."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str | None = Field(None, description="the suite's name (default: the file name)")
    description: str = Field("", description="one line shown by `mia-bench ls suites`")
    seeds: list[Annotated[int, Field(ge=0)]] = Field([0], min_length=1,
                                                     description="run seeds, a list of integers >= 0, e.g. [0, 1]")
    n_boot: int = Field(1000, ge=1, description="bootstrap resamples for CIs, an integer >= 1")
    grid: list[Grid] = Field(min_length=1, description="one or more [[grid]] tables (an array of tables)")


HINTS = {
    "grid": "write each grid as [[grid]] (double brackets: an array of tables), with datasets, targets and "
            "attacks lists",
    "seeds": "write seeds = [0, 1] (a list of integers)",
    "n_boot": "write n_boot = 1000 (an integer >= 1)",
    "datasets": 'write datasets = ["pii-faces"] (a list of spec strings)',
    "targets": 'write targets = ["clip-micro-vit"] (a list of spec strings)',
    "attacks": 'write attacks = ["csa", "blind"] (a list of spec strings)',
    "defenses": 'write defenses = ["none"] (a list of spec strings)',
}


def named_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml")) if SUITES_DIR.is_dir() else []


def _suite_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = SUITES_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise UnknownComponentError("suite", name_or_path, named_suites())
    if not path.is_file():
        raise MiaBenchError(f"Suite file not found: {path}. Pass a named suite ({', '.join(named_suites())}) or a .toml path.")
    return path


def load_suite(name_or_path: str) -> dict:
    """The validated suite as a dict (``name``, ``seeds``, ``n_boot``, ``grid``, ``path``...)."""
    path = _suite_path(name_or_path)
    with open(path, "rb") as f:
        try:
            raw = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise MiaBenchError(f"Suite file {path} is not valid TOML: {exc}") from None
    try:
        suite = SuiteFile.model_validate(raw)
    except ValidationError as exc:
        raise MiaBenchError(f"Suite file {path} is invalid:\n  - " + "\n  - ".join(_problems(exc))) from None
    out = suite.model_dump(exclude_none=True)  # component tables: the plain dicts ComponentSpec.parse takes
    out["name"] = suite.name or path.stem
    out["path"] = str(path)
    return out


def _problems(exc: ValidationError) -> list[str]:
    """One line per wrong key: where (``grid[1].attacks[0]``), what was found, and the fix.
    A union (string or table) reports every branch: keep the most specific one."""
    found: dict[str, str] = {}
    for e in exc.errors():
        loc = [p for p in e["loc"] if p not in ("str", "ComponentTable")]
        where = "".join(f"[{p + 1}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(loc))
        where = where or "(top level)"
        keys = [p for p in loc if isinstance(p, str)]
        if e["type"] == "extra_forbidden":
            valid = _valid_keys(loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            found.setdefault(where, f"unknown key {where!r}: {hint}valid keys here: {', '.join(valid)}")
            continue
        fix = HINTS.get(keys[-1] if keys else "", "")
        if keys and keys[-1] in ("datasets", "targets", "attacks", "defenses") and isinstance(loc[-1], int):
            fix = "a spec is a string NAME[:ARG][?k=v] or a table {name, arg, options}"
        found.setdefault(where, f"{where}: {e['msg']} (got {e.get('input')!r:.80})" + (f"; {fix}" if fix else ""))
    return [line for where, line in found.items()
            if not any(other.startswith((where + ".", where + "[")) for other in found)]


def _valid_keys(parent: list) -> list[str]:
    model: type[BaseModel] = SuiteFile
    if "grid" in parent:
        model = Grid
    if any(isinstance(p, str) and p in ("datasets", "targets", "attacks", "defenses") for p in parent):
        model = ComponentTable
    return sorted(model.model_fields)


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
    assert merged is not None  # the suite schema requires at least one grid
    merged.settings = {k: v for k, v in suite.items() if k != "grid"}
    return merged
