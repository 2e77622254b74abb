"""This plugin's open_clip model configs (JSON files in ``model_configs/``)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "model_configs"


@lru_cache(maxsize=1)
def register_model_configs() -> tuple[str, ...]:
    """Register this plugin's JSON model configs with open_clip (no download) once."""
    import open_clip

    open_clip.add_model_config(CONFIG_DIR)
    return tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))


def model_config(arch: str) -> dict:
    return json.loads((CONFIG_DIR / f"{arch}.json").read_text())
