"""First-party plugin: the 'none' defense (the target as trained)."""

from __future__ import annotations

from mia_bench import hookimpl
from mia_bench.defense import NoDefense


@hookimpl
def register_defenses(register):
    register(NoDefense)
