"""Dataset presets: benchmark definitions as data files, shipped as package data in
``mia_bench/builtin/presets/`` (read with importlib.resources).

A preset names a registered dataset (``base``) with fixed options; a spec may still
override them (``pii-faces-small?train_photos=2``). Presets resolve before the registry,
so ``mia-bench ls datasets`` and every run see them like any dataset.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from .errors import MiaBenchError
from .registry import ComponentSpec

PRESETS_DIR = Path(str(files("mia_bench").joinpath("builtin", "presets")))


@lru_cache(maxsize=1)
def dataset_presets() -> dict[str, dict]:
    out = {}
    for path in sorted(PRESETS_DIR.glob("*.toml")) if PRESETS_DIR.is_dir() else []:
        with open(path, "rb") as f:
            data = tomllib.load(f)
        if "base" not in data:
            raise MiaBenchError(f"dataset preset {path} needs a 'base' dataset name")
        out[data.get("name", path.stem)] = {**data, "path": str(path)}
    return out


def expand_dataset_spec(spec: ComponentSpec) -> ComponentSpec:
    preset = dataset_presets().get(spec.name)
    if preset is None:
        return spec
    return ComponentSpec(preset["base"], spec.arg, {**preset.get("options", {}), **spec.options})
