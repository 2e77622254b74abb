"""First-party plugin: baseline attacks (cosine similarity, its augmented variant, Ko et al.'s weakly
supervised attack, quantile regression, blind)."""

from __future__ import annotations

from mia_bench import hookimpl

from .blind import Blind
from .csa import CSA, CSAAug
from .quantile import QuantileMIA
from .wsa import WSA


@hookimpl
def register_attacks(register):
    for attack in (CSA, CSAAug, WSA, QuantileMIA, Blind):
        register(attack)
