"""The split protocol: disjoint groups, i.i.d. members/non-members, labels never in challenges."""

from __future__ import annotations

import pytest

from mia_bench.errors import InvalidOptionsError
from mia_bench.splits import SplitConfig, identity_split
from mia_bench.testing import toy_split, toy_world


def test_groups_are_disjoint_and_sized():
    split = toy_split(seed=3, n=10)
    members = {i for i, l in zip(split.identities.samples.identities, split.identity_labels) if l}
    nonmembers = {i for i, l in zip(split.identities.samples.identities, split.identity_labels) if not l}
    train_ids = {i for i in split.train.identities if i}
    null_ids = {i for i in split.null_train.identities if i}
    population = set(split.auxiliary.population.identities)
    assert len(members) == len(nonmembers) == 10
    assert train_ids == members
    assert not null_ids & (members | nonmembers)
    assert not population & (members | nonmembers | null_ids)
    assert len(split.null_train) == len(split.train)


def test_pair_challenge_members_are_exactly_trained_pairs():
    split = toy_split(seed=1)
    trained = set(split.train.ids)
    for sid, label in zip(split.pairs.samples.ids, split.pair_labels):
        assert (sid in trained) == bool(label)


def test_identity_challenge_carries_no_media_and_evidence_is_held_out():
    split = toy_split(seed=2)
    ch = split.identities
    assert ch.samples.images is None and ch.samples.audio is None
    assert all(t.startswith("a photo of ") for t in ch.samples.texts)
    assert not set(ch.evidence.ids) & set(split.train.ids)
    assert ch.evidence.texts == (None,) * len(ch.evidence)


def test_seed_changes_membership_and_is_deterministic():
    a, b, c = toy_split(seed=0), toy_split(seed=0), toy_split(seed=1)
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()


def test_too_small_world_has_a_clear_error():
    with pytest.raises(InvalidOptionsError, match="has 20 identities, but the split needs 80"):
        identity_split(toy_world(n_identities=20), SplitConfig(n_members=20, n_nonmembers=20, n_population=20), 0)
