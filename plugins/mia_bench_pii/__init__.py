"""First-party plugin: the embedded synthetic PII benchmarks (images, audio) and a generic HF dataset loader."""

from __future__ import annotations

from mia_bench import hookimpl

from .providers import HFDataset, PiiAvatars, PiiFaces, PiiVoices


@hookimpl
def register_datasets(register):
    register(PiiFaces)
    register(PiiAvatars)
    register(PiiVoices)
    register(HFDataset)
