"""First-party plugin: the embedded synthetic PII benchmark and a generic HF dataset loader."""

from __future__ import annotations

from mia_bench import hookimpl

from .providers import HFDataset, PiiAvatars, PiiFaces


@hookimpl
def register_datasets(register):
    register(PiiFaces)
    register(PiiAvatars)
    register(HFDataset)
