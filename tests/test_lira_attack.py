"""LiRA attacks on a toy target with a planted signal: pool growth, controls, statistics."""

from __future__ import annotations

import numpy as np
import pytest

from mia_bench.attack import AttackContext
from mia_bench.cache import Cache
from mia_bench.errors import InvalidOptionsError
from mia_bench.metrics import auc
from mia_bench.testing import ToyTarget, toy_split
from mia_bench_lira.attack import GlobalThreshold, LiRAOffline, LiRAOnline, LiRAOptions, StatisticOptions
from mia_bench_lira.pool import data_pool, pool_masks
from mia_bench_lira.statistics import pair_statistics


class ShadowFactory:
    """A cache-aware toy shadow builder: a shadow 'trained' on samples memorises their PII pairs."""

    def __init__(self):
        self.trained: set = set()

    def build_shadow(self, samples, seed, cache, *, arch=None, algorithm="clip", recipe=None, progress=False):
        key = (samples.fingerprint(), seed)
        t = ToyTarget(member_pairs=samples, strength=1.0, seed=0)
        t.info = {"trained_now": key not in self.trained}
        t.fingerprint = f"toy-shadow-{key[0]}-{seed}"
        self.trained.add(key)
        return t


def _ctx(split, tmp_path, factory):
    return AttackContext(split.auxiliary, np.random.default_rng(0), 0, Cache(tmp_path), "image",
                         build_shadow=factory.build_shadow, progress=False)


@pytest.fixture(scope="module")
def world():
    split = toy_split(0, n=30, n_identities=120)
    challenge, labels = split.challenge("pair")
    return split, challenge, labels


def test_pool_masks_are_balanced_prefixes():
    m8, m16 = pool_masks(8, 50, 3), pool_masks(16, 50, 3)
    assert (m8.sum(0) == 4).all() and (m16.sum(0) == 8).all()
    np.testing.assert_array_equal(m16[:8], m8)  # growing a pool never changes existing models


def test_pool_holds_the_challenge_once_in_a_canonical_order(world):
    split, challenge, _ = world
    ctx = AttackContext(split.auxiliary, np.random.default_rng(0), 0, Cache("/tmp/unused"), "image")
    pool, rows = data_pool(challenge.samples, ctx)
    assert [pool.ids[i] for i in rows] == list(challenge.samples.ids)
    assert len(set(pool.ids)) == len(pool)
    perm = np.random.default_rng(0).permutation(len(challenge))
    shuffled, _ = data_pool(challenge.samples.subset(perm), ctx)
    assert shuffled.ids == pool.ids  # canonical order: masks do not depend on the challenge order


@pytest.mark.parametrize("statistic", ["atanh-cos", "logit", "neg-loss"])
def test_lira_online_beats_offline_beats_chance_and_null_is_at_chance(world, tmp_path, statistic):
    split, challenge, labels = world
    factory = ShadowFactory()
    online = LiRAOnline(LiRAOptions(statistic=statistic, n_shadows=8, fix_variance=True))
    offline = LiRAOffline(LiRAOptions(statistic=statistic, n_shadows=8, fix_variance=True))
    target = ToyTarget(member_pairs=split.train, strength=1.0)
    a_on = auc(online.run(target, challenge, _ctx(split, tmp_path, factory)).scores, labels)
    a_off = auc(offline.run(target, challenge, _ctx(split, tmp_path, factory)).scores, labels)
    null = ToyTarget(member_pairs=split.null_train, strength=1.0)
    a_null = auc(online.run(null, challenge, _ctx(split, tmp_path, factory)).scores, labels)
    # 60 vs 60 pairs from 30 vs 30 identities: AUC's null standard error is about 0.053
    assert a_on > 0.9 and a_off > 0.9
    assert abs(a_null - 0.5) < 4 * 0.053


def test_asking_for_more_shadows_trains_only_the_new_ones(world, tmp_path):
    split, challenge, _ = world
    factory = ShadowFactory()
    target = ToyTarget(member_pairs=split.train)
    first = LiRAOnline(LiRAOptions(n_shadows=4)).run(target, challenge, _ctx(split, tmp_path, factory))
    assert first.info["shadow_models_trained"] == 4
    again = LiRAOffline(LiRAOptions(n_shadows=4)).run(target, challenge, _ctx(split, tmp_path, factory))
    assert again.info["shadow_models_trained"] == 0  # online and offline share the pool
    more = LiRAOnline(LiRAOptions(n_shadows=8)).run(target, challenge, _ctx(split, tmp_path, factory))
    assert more.info["shadow_models_trained"] == 4 and more.info["shadow_models"] == 8


def test_global_threshold_uses_no_shadows(world):
    split, challenge, labels = world
    out = GlobalThreshold(StatisticOptions()).run(ToyTarget(member_pairs=split.train), challenge,
                                                  _ctx(split, "/tmp/unused", ShadowFactory()))
    assert auc(out.scores, labels) > 0.7 and not out.info.get("shadow_models_trained")


def test_logit_statistic_matches_a_direct_softmax():
    rng = np.random.default_rng(0)
    target = ToyTarget()
    images = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    texts, cands = ["a", "b", "c"], ["x", "y", "b"]
    stat = pair_statistics(target, images, texts, "neg-loss", "original", cands)
    emb, t, c = target.encode_image(images), target.encode_text(texts), target.encode_text(cands)
    for i in range(3):
        logits = target.logit_scale * np.concatenate([[emb[i] @ t[i]], [emb[i] @ c[j] for j in range(3) if cands[j] != texts[i]]])
        assert stat[i, 0] == pytest.approx(logits[0] - np.log(np.exp(logits).sum()), rel=1e-5)


def test_bad_options_are_rejected_early():
    with pytest.raises(InvalidOptionsError, match="must be even"):
        LiRAOnline(LiRAOptions(n_shadows=5)).check()
    with pytest.raises(InvalidOptionsError, match="statistic='loss'"):
        LiRAOnline(LiRAOptions(statistic="loss")).check()


def test_augmented_queries_follow_the_modality():
    from mia_bench_lira.statistics import query_views, resolve_queries

    assert resolve_queries("original+augmented", "image") == "original+flip"
    assert resolve_queries("original+augmented", "audio") == "original+shift"
    assert resolve_queries("original", "audio") == "original"
    for queries, modality in (("original+flip", "audio"), ("original+shift", "image")):
        with pytest.raises(ValueError, match="does not apply"):
            resolve_queries(queries, modality)
    clips = np.arange(20, dtype=np.float32).reshape(2, 10)
    original, shifted = query_views(clips, "original+shift")
    assert original is clips
    np.testing.assert_array_equal(shifted, np.roll(clips, 1, axis=1))  # a tenth of 10 samples
    images = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    np.testing.assert_array_equal(query_views(images, "original+flip")[1], images[:, :, ::-1])
