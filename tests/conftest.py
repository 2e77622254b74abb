"""Shared fixtures. Tests are offline and CPU-only: any hub access fails at once."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest


@pytest.fixture
def cache(tmp_path):
    from mia_bench.cache import Cache

    return Cache(tmp_path / "cache")
