"""Realistic, unique person names from Faker, seeded, across several locales."""

from __future__ import annotations

from typing import Iterable

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "sv_SE", "pt_BR")


def unique_names(n: int, seed: int, locales: Iterable[str] = LOCALES,
                 exclude: Iterable[str] = ()) -> list[tuple[str, str]]:
    """``n`` unique (case-insensitive) "First Last" names with their locale, deterministic in ``seed``."""
    from faker import Faker

    locales = tuple(locales)
    fakers = {loc: Faker(loc) for loc in locales}
    for i, loc in enumerate(locales):
        fakers[loc].seed_instance(seed * 1000 + i)
    seen = {e.lower() for e in exclude}
    out: list[tuple[str, str]] = []
    attempts = 0
    while len(out) < n:
        loc = locales[attempts % len(locales)]
        attempts += 1
        fake = fakers[loc]
        name = f"{fake.first_name()} {fake.last_name()}"
        if name.lower() in seen:
            if attempts > 50 * n + 1000:
                raise RuntimeError(f"could not draw {n} unique names from locales {locales}")
            continue
        seen.add(name.lower())
        out.append((name, loc))
    return out


def plausible_names(n: int, seed: int, exclude: Iterable[str] = ()) -> list[str]:
    """More never-seen Faker names, disjoint from ``exclude`` (a reference of plausible non-members)."""
    return [name for name, _ in unique_names(n, seed + 7919, exclude=exclude)]
