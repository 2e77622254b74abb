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


def test_too_small_world_error_gives_the_largest_split_that_fits():
    with pytest.raises(InvalidOptionsError, match="largest split of these proportions that fits is n_members=5&"
                                                  "n_nonmembers=5&n_population=5"):
        identity_split(toy_world(n_identities=20), SplitConfig(n_members=20, n_nonmembers=20, n_population=20), 0)


def _known(world, members, nonmembers, population):
    from mia_bench.splits import known_split

    labels = {}
    for row, ident in zip(world.pii.ids, world.pii.identities):
        n = int(ident[2:])
        labels[row] = ("member" if row.endswith(("/p0", "/p1")) else "non-member") if n < members else \
            "non-member" if n < members + nonmembers else "population"
    cfg = SplitConfig(n_members=2, n_nonmembers=2, n_population=0, train_photos=2, evidence_photos=1)
    return known_split(world, labels, cfg, seed=0, source="test")


def test_known_split_uses_the_given_membership():
    world = toy_world(n_identities=12, photos=4)
    split = _known(world, 4, 5, 3)
    assert int(split.identity_labels.sum()) == 4 and len(split.identity_labels) == 9
    trained = set(split.train.ids) - set(world.background.ids)
    assert trained == {f"id{i:04d}/p{j}" for i in range(4) for j in (0, 1)}
    assert {s for s, l in zip(split.pairs.samples.ids, split.pair_labels) if l} == trained
    assert set(split.utility_pii.ids) == {f"id{i:04d}/p{j}" for i in range(4) for j in (2, 3)}
    assert not set(split.identities.evidence.ids) & trained and len(split.identities.evidence) == 9
    assert len(split.auxiliary.population) == 12 and split.config["notes"]


def test_known_split_needs_two_members():
    from mia_bench.errors import InvalidDataError

    with pytest.raises(InvalidDataError, match="has 1 member identities; a membership-inference benchmark needs at "
                                               "least 2 members and 2 non-members"):
        _known(toy_world(n_identities=12, photos=4), 1, 5, 6)
