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
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from .data import AuxiliaryData, Challenge, MembershipSplit, Samples, World
from .errors import InvalidOptionsError


class SplitConfig(BaseModel):
    n_members: int = Field(100, ge=2, description="member identities")
    n_nonmembers: int = Field(100, ge=2, description="non-member identities in the challenge")
    n_population: int = Field(100, ge=0, description="identities the attacker knows are non-members")
    train_photos: int = Field(5, ge=1, description="photos (or clips) per member identity in the training set")
    evidence_photos: int = Field(3, ge=0, description="held-out photos per challenge identity an attacker may hold")


def _identity_groups(world: World, cfg: SplitConfig, rng: np.random.Generator) -> list[list[str]]:
    ids = [i.id for i in world.identities]
    need = 2 * cfg.n_members + cfg.n_nonmembers + cfg.n_population
    if len(ids) < need:
        raise InvalidOptionsError(
            f"Dataset {world.name!r} has {len(ids)} identities, but the split needs {need} "
            f"(members {cfg.n_members} + non-members {cfg.n_nonmembers} + population {cfg.n_population} "
            f"+ {cfg.n_members} null-target fillers). Lower n_members/n_nonmembers/n_population or use a larger world."
        )
    order = [ids[i] for i in rng.permutation(len(ids))]
    sizes = [cfg.n_members, cfg.n_nonmembers, cfg.n_population, cfg.n_members]
    bounds = np.cumsum([0] + sizes)
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _rows_by_identity(world: World) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = {}
    for i, ident in enumerate(world.pii.identities):
        rows.setdefault(ident, []).append(i)
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
    pop_set = set(population)
    pop_all = [i for i, x in enumerate(world.pii.identities) if x in pop_set]

    n_bg = len(world.background)
    bg = rng.permutation(n_bg)
    bg_train, bg_pop, bg_util = bg[: n_bg // 2], bg[n_bg // 2 : (3 * n_bg) // 4], bg[(3 * n_bg) // 4 :]
    background = world.background

    pii = world.pii
    pairs = pii.subset(mem_train + non_head)
    pair_labels = np.array([True] * len(mem_train) + [False] * len(non_head))
    challenge_ids = members + nonmembers
    queries = Samples(
        ids=tuple(challenge_ids),
        identities=tuple(challenge_ids),
        texts=tuple(world.templates[0].format(name=world.identity(i).name) for i in challenge_ids),
    )
    evidence_rows = _evidence_rows(world, challenge_ids, cfg)
    aux = AuxiliaryData(
        population=pii.subset(pop_all),
        population_background=background.subset(bg_pop),
        names=tuple(world.identity(i).name for i in population),
        templates=world.templates,
    )
    return MembershipSplit(
        dataset=dataset or world.name,
        seed=seed,
        world=world,
        train=Samples.concat([pii.subset(mem_train), background.subset(bg_train)]),
        null_train=Samples.concat([pii.subset(fill_train), background.subset(bg_train)]),
        pairs=Challenge("pair", pairs),
        pair_labels=pair_labels,
        identities=Challenge("identity", queries, evidence=pii.subset(evidence_rows).without("text")),
        identity_labels=np.array([True] * len(members) + [False] * len(nonmembers)),
        auxiliary=aux,
        utility_pii=pii.subset(mem_held),
        utility_background=background.subset(bg_util),
        config=cfg.model_dump(),
    )


def _evidence_rows(world: World, identities: list[str], cfg: SplitConfig) -> list[int]:
    rows = _rows_by_identity(world)
    out = []
    for ident in identities:
        out += rows[ident][cfg.train_photos : cfg.train_photos + cfg.evidence_photos]
    return out
