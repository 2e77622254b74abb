"""First-party plugin: UMID (text-only membership inference) and its text-geometry baseline."""

from __future__ import annotations

from mia_bench import hookimpl

from .attack import UMID, TextKNN


@hookimpl
def register_attacks(register):
    register(UMID)
    register(TextKNN)
