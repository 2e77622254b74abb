"""Known non-member pairs and pair embeddings, shared by the attacks that learn from them
(quantile regression, Ko et al.'s weakly supervised attack).

The attacker's known non-members are the split's population pairs: photos (or clips) of
identities known to be outside the training set, with their captions, from the same
distribution as the challenge. ``population+background`` adds the non-PII pairs the
attacker also knows are outside the training set (another distribution: shapes, sound
events), for worlds where the population is small.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mia_bench.data import AuxiliaryData, Samples
from mia_bench.errors import InvalidOptionsError

if TYPE_CHECKING:
    from mia_bench.target import Target

REFERENCES = ("population", "population+background")


def check_reference(attack: str, reference: str, aux: AuxiliaryData, minimum: int) -> None:
    """Raise, naming the attack, when the split grants fewer than ``minimum`` known non-member pairs."""
    if reference not in REFERENCES:
        raise InvalidOptionsError(f"{attack}: reference={reference!r} is not valid; valid: {', '.join(REFERENCES)}")
    n = len(reference_pairs(aux, reference))
    if n < minimum:
        raise InvalidOptionsError(
            f"{attack} learns from the attacker's known non-member pairs, but the split grants {n} "
            f"(reference={reference!r}; it needs at least {minimum}). Give the attacker population data "
            "(dataset option n_population > 0, e.g. -d 'pii-faces?n_population=100')"
            + (" or use reference=population+background." if reference == "population" else ".")
        )


def reference_pairs(aux: AuxiliaryData, reference: str) -> Samples:
    """The known non-member pairs with a caption (rows without text cannot be scored)."""
    parts = [aux.population] + ([aux.population_background] if reference == "population+background" else [])
    pairs = Samples.concat([p for p in parts if p is not None])
    return pairs.subset([i for i, t in enumerate(pairs.texts) if t])


def pair_embeddings(target: "Target", samples: Samples, modality: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(media (N, D), text (N, D), cos (N,) float64)``: one batched call per tower."""
    text = target.encode_text(list(samples.texts))
    media = target.encode_media(samples.media(modality))
    return media, text, (media * text).sum(1).astype(np.float64)
