"""The membership-split protocol shared by every identity-bearing dataset.

Identities are shuffled by the run seed and dealt into four disjoint groups of the same
distribution (an i.i.d. split, so a blind baseline stays at chance):

- members: their first ``train_photos`` photos (with captions) are trained on;
- non-members: never trained on; their first ``train_photos`` photos are the
  non-member pairs of the pair-level challenge;
- population: known to the attacker as non-members (reference and shadow data);
- null fillers: the null-target control trains on their photos instead of the members'.

Photos after the first ``train_photos`` of an identity are held out: attacker-held
evidence for attacks that send biometric data (e.g. IDIA), and utility evaluation
(zero-shot identification of member identities). Background (non-PII) pairs are dealt
the same way: half trained on, a quarter to the attacker, a quarter to utility.

When the membership is known (a model trained elsewhere, on data whose members its
owner lists), :func:`known_split` uses it instead of dealing: see its docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
from pydantic import BaseModel, Field

from .data import AuxiliaryData, Challenge, MembershipSplit, Samples, World
from .errors import InvalidDataError, InvalidOptionsError


class SplitConfig(BaseModel):
    n_members: int = Field(100, ge=2, description="member identities")
    n_nonmembers: int = Field(100, ge=2, description="non-member identities in the challenge")
    n_population: int = Field(100, ge=0, description="identities the attacker knows are non-members")
    train_photos: int = Field(5, ge=1, description="photos (or clips) per member identity in the training set")
    evidence_photos: int = Field(3, ge=0, description="held-out photos per challenge identity an attacker may hold")


def identity_shortfall(n_identities: int, cfg: SplitConfig, dataset: str) -> str | None:
    """The error message when ``n_identities`` cannot hold the dealt split (None when they can),
    with the largest split of the same shape that fits."""
    need = 2 * cfg.n_members + cfg.n_nonmembers + cfg.n_population
    if n_identities >= need:
        return None
    return (
        f"Dataset {dataset!r} has {n_identities} identities, but the split needs {need} "
        f"(members {cfg.n_members} + non-members {cfg.n_nonmembers} + population {cfg.n_population} "
        f"+ {cfg.n_members} null-target fillers). {largest_split_hint(n_identities, cfg)}"
    )


def largest_split_hint(n_identities: int, cfg: SplitConfig) -> str:
    """``n_members=..&n_nonmembers=..&n_population=..``: the split of the same proportions that fits."""
    if n_identities < 6:
        return "Any split needs at least 6 identities (2 members, 2 non-members, 2 fillers): use a larger dataset."
    need = 2 * cfg.n_members + cfg.n_nonmembers + cfg.n_population
    scale = n_identities / need
    m, nm, pop = (max(2, int(cfg.n_members * scale)), max(2, int(cfg.n_nonmembers * scale)),
                  int(cfg.n_population * scale))
    while 2 * m + nm + pop > n_identities:  # the floors of 2 may overshoot: shrink the largest group
        if pop >= max(m, nm):
            pop -= 1
        elif nm >= m and nm > 2:
            nm -= 1
        else:
            m -= 1
    return (f"The largest split of these proportions that fits is n_members={m}&n_nonmembers={nm}&n_population={pop}; "
            "set those options, or use a dataset with more identities.")


def photo_shortfall(photos: dict[str, int], need: int, option_hint: str) -> str | None:
    """The error message when some identities have fewer than ``need`` photos (None when none do)."""
    small = sorted((n, ident) for ident, n in photos.items() if n < need)
    if not small:
        return None
    named = ", ".join(f"{ident!r} ({n})" for n, ident in small[:5]) + (", ..." if len(small) > 5 else "")
    return (f"{len(small)} of {len(photos)} identities have fewer than {option_hint} = {need} photos: {named}. "
            f"Lower those options (the smallest identity has {small[0][0]} photos), add photos of those people, "
            "or leave their identity cells empty so their rows become background pairs.")


def _identity_groups(world: World, cfg: SplitConfig, rng: np.random.Generator) -> list[list[str]]:
    ids = [i.id for i in world.identities]
    problem = identity_shortfall(len(ids), cfg, world.name)
    if problem:
        raise InvalidOptionsError(problem)
    order = [ids[i] for i in rng.permutation(len(ids))]
    sizes = [cfg.n_members, cfg.n_nonmembers, cfg.n_population, cfg.n_members]
    bounds = np.cumsum([0] + sizes)
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _rows_by_identity(world: World) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = {}
    for i, ident in enumerate(world.pii.identities):
        rows.setdefault(cast(str, ident), []).append(i)  # a world's PII rows all name a person
    return rows


def _photos(world: World, identities: list[str], cfg: SplitConfig) -> tuple[list[int], list[int]]:
    """Row indices of (first ``train_photos``, held-out) photos of the given identities."""
    rows = _rows_by_identity(world)
    head, tail = [], []
    for ident in identities:
        r = rows.get(ident, [])
        if len(r) < cfg.train_photos:
            raise InvalidOptionsError(
                f"Identity {ident!r} of dataset {world.name!r} has {len(r)} photos, fewer than "
                f"train_photos={cfg.train_photos}. Lower train_photos or generate more photos per identity."
            )
        head += r[: cfg.train_photos]
        tail += r[cfg.train_photos :]
    return head, tail


def identity_split(world: World, cfg: SplitConfig, seed: int, dataset: str | None = None) -> MembershipSplit:
    rng = np.random.default_rng([seed, 0x5B117])
    members, nonmembers, population, fillers = _identity_groups(world, cfg, rng)
    mem_train, mem_held = _photos(world, members, cfg)
    non_head, _ = _photos(world, nonmembers, cfg)
    fill_train, _ = _photos(world, fillers, cfg)
    groups = _Groups(members, nonmembers, population, mem_train, mem_held, non_head,
                     _evidence_rows(world, members + nonmembers, cfg), fill_train)
    return _assemble(world, groups, cfg, seed, dataset, rng, cfg.model_dump())


@dataclass
class _Groups:
    """Row indices into ``world.pii`` (and identity ids) of each part of a split."""

    members: list[str]
    nonmembers: list[str]
    population: list[str]
    mem_train: list[int]
    mem_held: list[int]
    non_head: list[int]
    evidence: list[int]
    null_pii: list[int]


def _assemble(world: World, g: _Groups, cfg: SplitConfig, seed: int, dataset: str | None,
              rng: np.random.Generator, config: dict) -> MembershipSplit:
    pop_set = set(g.population)
    pop_all = [i for i, x in enumerate(world.pii.identities) if x in pop_set]
    n_bg = len(world.background)
    bg = rng.permutation(n_bg)
    bg_train, bg_pop, bg_util = bg[: n_bg // 2], bg[n_bg // 2 : (3 * n_bg) // 4], bg[(3 * n_bg) // 4 :]
    background, pii = world.background, world.pii
    challenge_ids = g.members + g.nonmembers
    queries = Samples(
        ids=tuple(challenge_ids),
        identities=tuple(challenge_ids),
        texts=tuple(world.templates[0].format(name=world.identity(i).name) for i in challenge_ids),
    )
    aux = AuxiliaryData(
        population=pii.subset(pop_all),
        population_background=background.subset(bg_pop),
        names=tuple(world.identity(i).name for i in g.population),
        templates=world.templates,
    )
    return MembershipSplit(
        dataset=dataset or world.name,
        seed=seed,
        world=world,
        train=Samples.concat([pii.subset(g.mem_train), background.subset(bg_train)]),
        null_train=Samples.concat([pii.subset(g.null_pii), background.subset(bg_train)]),
        pairs=Challenge("pair", pii.subset(g.mem_train + g.non_head)),
        pair_labels=np.array([True] * len(g.mem_train) + [False] * len(g.non_head)),
        identities=Challenge("identity", queries, evidence=pii.subset(g.evidence).without("text")),
        identity_labels=np.array([True] * len(g.members) + [False] * len(g.nonmembers)),
        auxiliary=aux,
        utility_pii=pii.subset(g.mem_held),
        utility_background=background.subset(bg_util),
        config=config,
    )


def _evidence_rows(world: World, identities: list[str], cfg: SplitConfig) -> list[int]:
    rows = _rows_by_identity(world)
    out = []
    for ident in identities:
        out += rows[ident][cfg.train_photos : cfg.train_photos + cfg.evidence_photos]
    return out


# --- known membership -------------------------------------------------------------
MEMBERSHIP_VALUES = ("member", "non-member", "population")
_ALIASES = {"nonmember": "non-member", "non_member": "non-member", "non member": "non-member"}


def membership_value(x) -> str | None:
    """A membership cell, normalised (case, spaces, ``non_member``); None when empty."""
    if x is None or (isinstance(x, float) and x != x):
        return None
    text = str(x).strip().lower()
    return _ALIASES.get(text, text) or None


def identity_role(identity: str, labels: list[str | None]) -> str:
    """member (any row trained on), non-member (none trained on, challenged) or population
    (every row known to the attacker as a non-member); raise on rows that say otherwise."""
    kinds = set(labels)
    unknown = kinds - set(MEMBERSHIP_VALUES)
    if unknown:
        raise InvalidDataError(
            f"identity {identity!r} has rows with membership {sorted(map(str, unknown))}; valid: "
            f"{', '.join(MEMBERSHIP_VALUES)}. Label every row of a person.")
    if "population" in kinds and kinds != {"population"}:
        raise InvalidDataError(
            f"identity {identity!r} has population rows and {sorted(map(str, kinds - {'population'}))} rows: a population "
            "identity is one the attacker knows is outside the training set, so all its rows must say population.")
    if "member" in kinds:
        return "member"
    return "non-member" if "non-member" in kinds else "population"


def known_split(world: World, membership: dict[str, str], cfg: SplitConfig, seed: int, dataset: str | None = None,
                source: str = "given") -> MembershipSplit:
    """A split whose membership is given, row by row (``membership[row id]``), not dealt.

    An identity with any member row is a member identity: its member rows are its trained
    pairs (the pair challenge's members), its other rows are held out (the first
    ``evidence_photos`` are attacker-held evidence, all of them utility photos). An identity
    with only non-member rows is a non-member: its first ``train_photos`` rows are
    non-member pairs and the next ``evidence_photos`` its evidence, as in the dealt protocol.
    Population identities go to the attacker. Without an identity column every row is its
    own identity, so the same rules give pair-level membership. Nothing is dealt except the
    background pairs (as in :func:`identity_split`). There are no null-target fillers: a
    target trained here has a null control trained on the background pairs only, recorded
    in ``config["notes"]``; a model trained elsewhere needs its owner's null checkpoint.
    """
    rng = np.random.default_rng([seed, 0x5B117])
    rows = _rows_by_identity(world)
    ids = world.pii.ids
    roles = {ident: identity_role(ident, [membership.get(ids[r]) for r in rs]) for ident, rs in rows.items()}
    order = [i.id for i in world.identities if i.id in roles]
    members = [i for i in order if roles[i] == "member"]
    nonmembers = [i for i in order if roles[i] == "non-member"]
    population = [i for i in order if roles[i] == "population"]
    for kind, group in (("member", members), ("non-member", nonmembers)):
        if len(group) < 2:
            raise InvalidDataError(
                f"dataset {dataset or world.name!r}: the membership ({source}) has {len(group)} {kind} "
                f"{'identities' if world.identities else 'rows'}; a membership-inference benchmark needs at least 2 "
                "members and 2 non-members. Label more rows.")
    mem_train, mem_held, evidence, non_head = [], [], [], []
    for ident in members:
        trained = [r for r in rows[ident] if membership[ids[r]] == "member"]
        held = [r for r in rows[ident] if membership[ids[r]] != "member"]
        mem_train += trained
        mem_held += held
        evidence += held[: cfg.evidence_photos]
    for ident in nonmembers:
        non_head += rows[ident][: cfg.train_photos]
        evidence += rows[ident][cfg.train_photos : cfg.train_photos + cfg.evidence_photos]
    groups = _Groups(members, nonmembers, population, mem_train, mem_held, non_head, evidence, [])
    config = {**cfg.model_dump(), "n_members": len(members), "n_nonmembers": len(nonmembers),
              "n_population": len(population), "membership": source,
              "notes": [f"membership {source}, not dealt by the seed",
                        "no null-target fillers: a null target trained here sees the background pairs only"]}
    return _assemble(world, groups, cfg, seed, dataset, rng, config)
