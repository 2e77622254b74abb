"""RMIA: the scoring core against a loop-by-loop computation of the paper's formula, the
probability of a contrastive pair, a planted signal with its null control, and plan-time
errors for what RMIA cannot do."""

from __future__ import annotations

import numpy as np
import pytest

from mia_bench.attack import AttackContext
from mia_bench.cache import Cache
from mia_bench.errors import IncompatibleError
from mia_bench.metrics import auc
from mia_bench.plan import build_plan
from mia_bench.testing import ToyTarget, toy_split
from mia_bench_lira.attack import RMIAOffline, RMIAOfflineOptions, RMIAOnline, RMIAOnlineOptions
from mia_bench_lira.pool import pool_masks
from mia_bench_lira.rmia import pair_log_probability, rmia_scores
from mia_bench_lira.statistics import pair_statistics


def _reference_rmia(px, ref_x, keep_x, pz, ref_z, keep_z, online, gamma, a, self_z=None):
    """The paper's definition, written out with loops over plain probabilities."""

    def p_ref(ref, keep, j):
        views = ref.shape[2]
        per_model = [sum(ref[m, j, v] for v in range(views)) / views for m in range(ref.shape[0])]
        ins = [per_model[m] for m in range(ref.shape[0]) if keep[m, j]]
        outs = [per_model[m] for m in range(ref.shape[0]) if not keep[m, j]]
        p_out = sum(outs) / len(outs)
        if online:
            return (sum(ins) / len(ins) + p_out) / 2
        return ((1 + a) * p_out + (1 - a)) / 2

    def p_target(p, j):
        return sum(p[j]) / len(p[j])

    scores = []
    for i in range(px.shape[0]):
        ratio_x = p_target(px, i) / p_ref(ref_x, keep_x, i)
        hits, n = 0, 0
        for j in range(pz.shape[0]):
            if self_z is not None and self_z[i] == j:
                continue
            lr = ratio_x / (p_target(pz, j) / p_ref(ref_z, keep_z, j))
            hits += lr >= gamma
            n += 1
        scores.append(hits / n)
    return np.array(scores)


def _random_case(rng, n_x=7, n_z=11, n_models=6, views=2):
    keep_x = pool_masks(n_models, n_x, 1)
    keep_z = pool_masks(n_models, n_z, 2)
    arrays = [rng.uniform(0.01, 0.99, shape) for shape in
              ((n_x, views), (n_models, n_x, views), (n_z, views), (n_models, n_z, views))]
    return arrays, keep_x, keep_z


@pytest.mark.parametrize("online", [True, False])
@pytest.mark.parametrize("gamma,a", [(1.0, 0.3), (2.0, 0.0), (0.5, 1.0)])
def test_scores_match_a_loop_computation(online, gamma, a):
    rng = np.random.default_rng(0)
    (px, rx, pz, rz), keep_x, keep_z = _random_case(rng)
    got = rmia_scores(np.log(px), np.log(rx), keep_x, np.log(pz), np.log(rz), keep_z, online=online, gamma=gamma, a=a)
    want = _reference_rmia(px, rx, keep_x, pz, rz, keep_z, online, gamma, a)
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert got.std() > 0  # the case is not degenerate: scores differ between rows


def test_a_hand_made_case_and_self_exclusion():
    # one model IN and one OUT for every sample; one view; target probabilities chosen by hand
    keep = np.array([[True, False, True], [False, True, False]])
    ref = np.array([[0.4, 0.2, 0.5], [0.2, 0.4, 0.5]])  # p(s) = 0.3, 0.3, 0.5 online
    px = np.array([0.6, 0.3, 0.5])  # ratios 2, 1, 1
    # z = the same three samples: LR(x0, z) = 2/2, 2/1, 2/1 -> all >= 1; x1: 1/2, 1, 1 -> 2 of 3
    scores = rmia_scores(np.log(px), np.log(ref), keep, np.log(px), np.log(ref), keep, online=True, gamma=1.0)
    np.testing.assert_allclose(scores, [1.0, 2 / 3, 2 / 3])
    # leaving each sample's own z out: x0 beats both others, x1 beats only x2 (LR = 1), x2 only x1
    scores = rmia_scores(np.log(px), np.log(ref), keep, np.log(px), np.log(ref), keep, online=True, gamma=1.0,
                         self_z=np.arange(3))
    np.testing.assert_allclose(scores, [1.0, 0.5, 0.5])
    # offline, a = 0: p(s) = (p_OUT + 1) / 2 = 0.6, 0.6, 0.75 -> ratios 1, 0.5, 2/3
    scores = rmia_scores(np.log(px), np.log(ref), keep, np.log(px), np.log(ref), keep, online=False, a=0.0,
                         gamma=1.0)
    np.testing.assert_allclose(scores, [1.0, 1 / 3, 2 / 3])
    rng = np.random.default_rng(1)
    (px, rx, pz, rz), keep_x, keep_z = _random_case(rng, n_x=5, n_z=5)
    self_z = np.array([0, -1, 2, 4, -1])
    got = rmia_scores(np.log(px), np.log(rx), keep_x, np.log(pz), np.log(rz), keep_z, online=True, self_z=self_z)
    np.testing.assert_allclose(got, _reference_rmia(px, rx, keep_x, pz, rz, keep_z, True, 1.0, 0.0, self_z))


def test_bad_inputs_say_what_is_wrong():
    rng = np.random.default_rng(0)
    (px, rx, pz, rz), keep_x, keep_z = _random_case(rng)
    args = (np.log(px), np.log(rx), keep_x, np.log(pz), np.log(rz), keep_z)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        rmia_scores(*args, online=True, gamma=0.0)
    with pytest.raises(ValueError, match="a must be in"):
        rmia_scores(*args, online=False, a=1.5)
    with pytest.raises(ValueError, match="log-probabilities"):
        rmia_scores(px + 1, *args[1:], online=True)
    no_in = np.zeros_like(keep_x)
    with pytest.raises(ValueError, match="no IN reference model"):
        rmia_scores(args[0], args[1], no_in, *args[3:], online=True)
    rmia_scores(args[0], args[1], no_in, args[3], args[4], np.zeros_like(keep_z), online=False)  # offline needs no IN


def test_pair_probability_is_the_softmax_of_the_true_caption():
    rng = np.random.default_rng(0)
    target = ToyTarget()
    images = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    texts, cands = ["a", "b", "c", "d"], ["x", "y", "b", "z"]
    logit = pair_statistics(target, images, texts, "logit", "original", cands)
    neg_loss = pair_statistics(target, images, texts, "neg-loss", "original", cands)
    emb, t, c = (np.asarray(x, dtype=np.float64)
                 for x in (target.encode_image(images), target.encode_text(texts), target.encode_text(cands)))
    for i in range(4):  # float64 on both sides: they agree to rounding, whatever the BLAS kernel
        z = target.logit_scale * np.array([emb[i] @ t[i]] + [emb[i] @ c[j] for j in range(4) if cands[j] != texts[i]])
        p = np.exp(z[0]) / np.exp(z).sum()
        assert np.exp(pair_log_probability(logit[i, 0], "logit")) == pytest.approx(p, rel=1e-9)
        assert np.exp(pair_log_probability(neg_loss[i, 0], "neg-loss")) == pytest.approx(p, rel=1e-9)
    cos = np.array([-0.5, 0.0, 0.9])
    np.testing.assert_allclose(np.exp(pair_log_probability(np.arctanh(cos), "atanh-cos")), (1 + cos) / 2)
    with pytest.raises(ValueError, match="no probability"):
        pair_log_probability(cos, "cosine")


class _Shadows:
    """Toy shadow builder: a shadow 'trained' on samples memorises their pairs."""

    def build_shadow(self, samples, seed, cache, *, arch=None, algorithm="clip", recipe=None, progress=False):
        t = ToyTarget(member_pairs=samples, strength=1.0, seed=0)
        t.info, t.fingerprint = {"trained_now": True}, f"toy-shadow-{samples.fingerprint()}-{seed}"
        return t


@pytest.fixture(scope="module")
def world():
    split = toy_split(0, n=30, n_identities=120)
    challenge, labels = split.challenge("pair")
    return split, challenge, labels


def _ctx(split, tmp_path):
    return AttackContext(split.auxiliary, np.random.default_rng(0), 0, Cache(tmp_path), "image",
                         build_shadow=_Shadows().build_shadow, progress=False)


@pytest.mark.parametrize("attack", [RMIAOnline(RMIAOnlineOptions(n_shadows=4)),
                                    RMIAOffline(RMIAOfflineOptions(n_shadows=4)),
                                    RMIAOnline(RMIAOnlineOptions(n_shadows=4, n_z=20, gamma=2.0))])
def test_planted_signal_is_found_and_the_null_target_is_at_chance(world, tmp_path, attack):
    split, challenge, labels = world
    member = attack.run(ToyTarget(member_pairs=split.train, strength=1.0), challenge, _ctx(split, tmp_path))
    null = attack.run(ToyTarget(member_pairs=split.null_train, strength=1.0), challenge, _ctx(split, tmp_path))
    assert np.all((member.scores >= 0) & (member.scores <= 1))
    assert member.info["z_samples"] == (attack.options.n_z or len(split.auxiliary.population))
    # 60 vs 60 pairs from 30 vs 30 identities: AUC's null standard error is about 0.053
    assert auc(member.scores, labels) > 0.9
    assert abs(auc(null.scores, labels) - 0.5) < 4 * 0.053


def test_rmia_reuses_the_lira_pool(world, tmp_path):
    from mia_bench_lira.attack import LiRAOnline, LiRAOptions

    split, challenge, _ = world
    target = ToyTarget(member_pairs=split.train)
    assert LiRAOnline(LiRAOptions(n_shadows=4)).run(target, challenge, _ctx(split, tmp_path)).info[
        "shadow_models_trained"] == 4
    out = RMIAOffline(RMIAOfflineOptions(n_shadows=4)).run(target, challenge, _ctx(split, tmp_path))
    assert out.info["shadow_models_trained"] == 0 and out.info["shadow_models"] == 4


def test_without_population_it_fails_before_any_shadow_loads(world, tmp_path):
    from dataclasses import replace

    split, challenge, _ = world
    aux = replace(split.auxiliary, population=split.auxiliary.population.subset([]))

    def never(*args, **kwargs):
        raise AssertionError("a shadow model was requested")

    ctx = AttackContext(aux, np.random.default_rng(0), 0, Cache(tmp_path), "image", build_shadow=never)
    with pytest.raises(IncompatibleError, match="no population pairs"):
        RMIAOnline(RMIAOnlineOptions()).run(ToyTarget(member_pairs=split.train), challenge, ctx)


@pytest.mark.parametrize("attack", ["rmia-online", "rmia-offline", "lira-online"])
def test_a_target_without_shadow_models_is_rejected_at_plan_time(attack):
    # a checkpoint path that does not exist: any attempt to load it would fail differently
    with pytest.raises(IncompatibleError, match="cannot build them.*use a target trained here"):
        build_plan([attack], ["open_clip:/nonexistent/ckpt.pt"], ["pii-faces"])


@pytest.mark.parametrize("attack", ["rmia-online", "rmia-offline"])
def test_a_split_without_population_is_rejected_at_plan_time(attack):
    with pytest.raises(IncompatibleError, match="n_population=0"):
        build_plan([attack], ["clip-micro-vit"], ["pii-faces?n_population=0"])
    build_plan(["lira-online"], ["clip-micro-vit"], ["pii-faces?n_population=0"])  # LiRA's pool needs no population


def test_bad_options_fail_when_the_plan_is_made():
    from mia_bench.errors import InvalidOptionsError

    for spec in ("rmia-offline?a=1.5", "rmia-online?gamma=0", "rmia-online?splits=halves",
                 "rmia-online?statistic=cosine"):
        with pytest.raises(InvalidOptionsError):
            build_plan([spec], ["clip-micro-vit"], ["pii-faces"])
