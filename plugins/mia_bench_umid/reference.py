"""The non-member reference: synthetic gibberish (the paper), or plausible never-seen names.

Gibberish strings are put in the same caption template as real queries, so the only
difference between a reference query and a real one is the PII string itself.
"""

from __future__ import annotations

import string

import numpy as np

ALPHABETS = {
    "letters": string.ascii_letters,
    "printable": string.ascii_letters + string.digits + string.punctuation,  # the predecessors' code
    "lower": string.ascii_lowercase,
}


def gibberish(n: int, length: int, alphabet: str, rng: np.random.Generator) -> list[str]:
    chars = ALPHABETS.get(alphabet, alphabet)
    if len(chars) < 2:
        raise ValueError(f"gibberish alphabet {alphabet!r} is too small; use {', '.join(ALPHABETS)} or a string")
    idx = rng.integers(0, len(chars), (n, length))
    return ["".join(chars[i] for i in row) for row in idx]


def gibberish_names(n: int, rng: np.random.Generator) -> list[str]:
    """Name-shaped gibberish: two capitalised pseudo-words (closer to real names than random symbols)."""
    vowels, consonants = "aeiouy", "bcdfghjklmnprstvwz"

    def word(length: int) -> str:
        return "".join((consonants if i % 2 == 0 else vowels)[rng.integers(0, 6 if i % 2 else 18)]
                       for i in range(length)).capitalize()

    return [f"{word(int(rng.integers(4, 8)))} {word(int(rng.integers(5, 9)))}" for _ in range(n)]
