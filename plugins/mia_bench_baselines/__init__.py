"""First-party plugin: baseline attacks (cosine similarity, its augmented variant, blind)."""

from __future__ import annotations

from mia_bench import hookimpl

from .blind import Blind
from .csa import CSA, CSAAug


@hookimpl
def register_attacks(register):
    for attack in (CSA, CSAAug, Blind):
        register(attack)
