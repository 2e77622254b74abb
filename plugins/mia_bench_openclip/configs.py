"""This plugin's open_clip model configs (JSON files in ``model_configs/``)."""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
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


@contextmanager
def quiet_random_init():
    """Silence open_clip's "No pretrained weights loaded ... initialized randomly" warning
    where weights are set right after (a trained or loaded checkpoint), not left random."""
    quiet = _DropMessage("No pretrained weights loaded")
    logging.getLogger().addFilter(quiet)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(quiet)


class _DropMessage(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()
