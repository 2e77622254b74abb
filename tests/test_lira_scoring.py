"""LiRA scoring core: cross-checked against an independent plain-Python computation, plus
keep-mask invariants, statistical sanity on synthetic shadow statistics, and input errors."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

try:
    from mia_bench_lira import scoring
except ImportError:  # an editable install made before the plugin existed does not map it
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))
    from mia_bench_lira import scoring

try:
    from sklearn.metrics import roc_auc_score
except ImportError:  # sklearn absent: the Mann-Whitney form of the same quantity
    from scipy.stats import rankdata

    def roc_auc_score(y, s):
        y = np.asarray(y, dtype=bool)
        n1, n0 = y.sum(), (~y).sum()
        return (rankdata(s)[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


# ---- independent reference: lists, loops and math only ------------------------------------

def _ref_groups(shadow, keep, want_in):
    """{(j, a): list of shadow values} for the IN (want_in) or OUT models of example j."""
    n_models, n_ex, n_aug = len(shadow), len(shadow[0]), len(shadow[0][0])
    return {(j, a): [shadow[m][j][a] for m in range(n_models) if bool(keep[m][j]) == want_in]
            for j in range(n_ex) for a in range(n_aug)}


def _ref_fit(groups, fix, center, min_std=1e-6):
    ss = {g: sum((v - sum(vs) / len(vs)) ** 2 for v in vs) for g, vs in groups.items()}
    pooled = sum(ss.values()) / sum(len(vs) for vs in groups.values())
    out = {}
    for g, vs in groups.items():
        var = pooled if (fix or len(vs) < 2) else ss[g] / len(vs)
        srt = sorted(vs)
        k = len(srt)
        med = srt[k // 2] if k % 2 else (srt[k // 2 - 1] + srt[k // 2]) / 2
        out[g] = (sum(vs) / k if center == "mean" else med, max(math.sqrt(var), min_std))
    return out


def _ref_logpdf(x, mu, sd):
    return -((x - mu) ** 2) / (2 * sd * sd) - math.log(sd) - 0.5 * math.log(2 * math.pi)


def _ref_scores(target, shadow, keep, fix, center, online):
    fit_out = _ref_fit(_ref_groups(shadow, keep, False), fix, center)
    fit_in = _ref_fit(_ref_groups(shadow, keep, True), fix, center) if online else None
    scores = []
    for j, row in enumerate(target):
        per_aug = []
        for a, x in enumerate(row):
            mo, so = fit_out[(j, a)]
            if online:
                mi, si = fit_in[(j, a)]
                per_aug.append(_ref_logpdf(x, mi, si) - _ref_logpdf(x, mo, so))
            else:  # -log Pr[Z > x] = -log(erfc(z / sqrt 2) / 2)
                per_aug.append(-math.log(0.5 * math.erfc((x - mo) / so / math.sqrt(2))))
        scores.append(sum(per_aug) / len(per_aug))
    return scores


# 6 shadow models x 3 examples x 2 augmentations, by hand.
SHADOW = [
    [[2.1, 1.7], [0.3, -0.2], [4.0, 3.1]],
    [[1.2, 1.9], [-0.8, 0.1], [2.5, 2.2]],
    [[2.9, 2.4], [1.4, 0.9], [3.6, 4.4]],
    [[0.4, 0.2], [-1.1, -0.6], [1.9, 2.0]],
    [[-0.3, 0.5], [0.2, -1.3], [2.2, 1.1]],
    [[0.9, -0.1], [-0.4, 0.0], [1.0, 2.7]],
]
TARGET = [[1.5, 2.6], [0.05, -0.7], [3.3, 1.8]]
KEEP_BALANCED = [  # every column 3 IN / 3 OUT
    [1, 0, 1], [1, 1, 0], [1, 1, 1], [0, 0, 0], [0, 1, 0], [0, 0, 1]]
KEEP_UNEVEN = [  # column 0: 1 IN (pooled-variance fallback); column 1: 5 IN, 1 OUT; column 2: 2 IN
    [1, 1, 0], [0, 1, 1], [0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]


@pytest.mark.parametrize("keep", [KEEP_BALANCED, KEEP_UNEVEN], ids=["balanced", "uneven"])
@pytest.mark.parametrize("fix", [False, True], ids=["per-example-var", "fixed-var"])
@pytest.mark.parametrize("center", ["mean", "median"])
@pytest.mark.parametrize("online", [True, False], ids=["online", "offline"])
def test_matches_independent_loop_computation(keep, fix, center, online):
    fn = scoring.lira_online if online else scoring.lira_offline
    got = fn(np.array(TARGET), np.array(SHADOW), np.array(keep, dtype=bool), fix, center=center)
    want = _ref_scores(TARGET, SHADOW, keep, fix, center, online)
    assert got.shape == (3,)
    for g, w in zip(got, want):
        assert math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-9), (got, want)


def test_hand_computed_values():
    # 4 models x 1 example x 1 aug. IN {1, 3}: mean 2, sd 1; OUT {-1, 1}: mean 0, sd 1.
    shadow = np.array([1.0, 3.0, -1.0, 1.0]).reshape(4, 1, 1)
    keep = np.array([[1], [1], [0], [0]], dtype=bool)
    assert scoring.lira_online(np.array([[1.0]]), shadow, keep) == pytest.approx([0.0], abs=1e-12)  # equidistant
    assert scoring.lira_online(np.array([[2.0]]), shadow, keep) == pytest.approx([2.0])  # 0 - (-4/2)
    assert scoring.lira_offline(np.array([[0.0]]), shadow, keep) == pytest.approx([math.log(2)])
    # one-sided: far below the OUT mean is *less* member-like than at it
    assert scoring.lira_offline(np.array([[-5.0]]), shadow, keep)[0] < math.log(2)
    # augmentations are averaged: two augs whose LLRs are 0 and 2 give 1
    two = scoring.lira_online(np.array([[1.0, 2.0]]), np.repeat(shadow, 2, axis=2), keep)
    assert two == pytest.approx([1.0])
    # 1-D target / 2-D shadow are read as one augmentation
    assert scoring.lira_online(np.array([2.0]), shadow[:, :, 0], keep) == pytest.approx([2.0])


def test_far_tail_offline_does_not_saturate():
    shadow = np.array([[0.0], [1.0], [-1.0], [0.5]])
    keep = np.array([[1], [1], [0], [0]], dtype=bool)
    s = scoring.lira_offline(np.array([30.0, 40.0]), shadow.repeat(2, 1), keep.repeat(2, 1))
    assert np.isfinite(s).all() and s[1] > s[0] > 100  # 1 - Phi would round to 0 for both


def test_degenerate_variance_is_floored_not_inf():
    shadow = np.zeros((4, 1, 1))  # identical statistics: variance 0 everywhere
    keep = np.array([[1], [1], [0], [0]], dtype=bool)
    s = scoring.lira_online(np.array([[1e-3]]), shadow, keep)
    assert np.isfinite(s).all()


# ---- statistics ---------------------------------------------------------------------------

def test_statistic_transforms():
    assert scoring.logit_confidence(np.array([0.5, 0.9]))[1] == pytest.approx(math.log(9))
    assert scoring.logit_confidence(0.5) == 0.0
    assert np.isfinite(scoring.logit_confidence(np.array([0.0, 1.0]))).all()
    logits = np.array([[2.0, 0.5, -1.0], [1000.0, 0.0, 0.0]])
    got = scoring.logit_from_logits(logits, np.array([0, 0]))
    e = [math.exp(v) for v in logits[0]]
    assert got[0] == pytest.approx(math.log(e[0] / (e[1] + e[2])))
    assert got[1] == pytest.approx(1000.0 - math.log(2.0))  # p rounds to 1.0; this does not
    assert scoring.atanh_cosine(np.array([0.0]))[0] == 0.0
    assert scoring.atanh_cosine(0.5) == pytest.approx(math.atanh(0.5))
    assert np.isfinite(scoring.atanh_cosine(np.array([-1.0, 1.0]))).all()
    with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]"):
        scoring.logit_confidence(np.array([0.2, 1.5]))
    with pytest.raises(ValueError, match="cos must be in"):
        scoring.atanh_cosine(np.array([1.2]))
    with pytest.raises(ValueError, match="target_index must be in"):
        scoring.logit_from_logits(logits, np.array([0, 3]))


# ---- keep masks ---------------------------------------------------------------------------

def test_balanced_masks():
    for n_models in (2, 4, 16, 64):
        k = scoring.balanced_keep_masks(n_models, 300, seed=7)
        assert k.dtype == bool and k.shape == (n_models, 300)
        assert (k.sum(0) == n_models // 2).all()
    a, b = scoring.balanced_keep_masks(16, 300, 0), scoring.balanced_keep_masks(16, 300, 0)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, scoring.balanced_keep_masks(16, 300, 1))
    assert len({r.tobytes() for r in a}) == 16  # no two models share a training set
    assert abs(a.mean(1) - 0.5).max() < 0.15  # rows are random halves too, not fixed blocks


def test_grow_masks():
    old = scoring.balanced_keep_masks(8, 500, seed=3)
    grown = scoring.grow_keep_masks(old, 6, seed=3)
    assert grown.shape == (14, 500) and grown.dtype == bool
    assert np.array_equal(grown[:8], old)
    assert (grown.sum(0) == 7).all()
    assert np.array_equal(grown, scoring.grow_keep_masks(old.copy(), 6, seed=3))
    assert not np.array_equal(grown, scoring.grow_keep_masks(old, 6, seed=4))
    assert len({r.tobytes() for r in grown}) == 14
    doubled = scoring.grow_keep_masks(old, 8, seed=3)  # same seed and size as old: must not replay it
    assert len({r.tobytes() for r in doubled}) == 16 and (doubled.sum(0) == 8).all()
    # twice in a row stays balanced and deterministic
    again = scoring.grow_keep_masks(grown, 2, seed=3)
    assert (again.sum(0) == 8).all() and np.array_equal(again[:14], grown)
    # an unbalanced (but fixable) start is rebalanced
    uneven = np.array([[1, 0, 1], [1, 0, 0], [1, 0, 1], [0, 1, 1]], dtype=bool)  # counts 3, 1, 3
    assert (scoring.grow_keep_masks(uneven, 4, 0).sum(0) == 4).all()


def test_mask_errors():
    with pytest.raises(ValueError, match=r"n_models must be an even integer >= 2.*got 5"):
        scoring.balanced_keep_masks(5, 10, 0)
    with pytest.raises(ValueError, match=r"n_new must be an even integer.*got 3"):
        scoring.grow_keep_masks(scoring.balanced_keep_masks(4, 10, 0), 3, 0)
    with pytest.raises(ValueError, match="cannot be balanced"):
        scoring.grow_keep_masks(np.ones((4, 3), dtype=bool), 2, 0)
    with pytest.raises(ValueError, match="seed must be an integer"):
        scoring.balanced_keep_masks(4, 10, 0.5)


# ---- statistical sanity -------------------------------------------------------------------

N_EX, N_SHADOW, N_AUG = 2000, 16, 2
SE = math.sqrt((1 / 1000 + 1 / 1000) / 12)  # AUC standard error bound, 1000 members / 1000 non


def _world(seed, n_models=N_SHADOW, null=False):
    """Per example j: OUT stat ~ N(b_j, 0.5), IN stat ~ N(b_j + d_j, 0.5), b_j ~ N(0, 2) (easy
    and hard examples), d_j ~ U(0, 2) (mean shift 1). Target membership: exactly half."""
    rng = np.random.default_rng(seed)
    keep = scoring.balanced_keep_masks(n_models, N_EX, seed)
    members = scoring.balanced_keep_masks(2, N_EX, seed + 1)[0]
    b, d = rng.normal(0, 2, N_EX), (0.0 if null else rng.uniform(0, 2, N_EX))

    def draw(k):
        return b[None, :, None] + (k * d)[..., None] + rng.normal(0, 0.5, (*k.shape, N_AUG))

    return draw(members[None])[0], draw(keep), keep, members, b, d


def test_synthetic_ordering():
    t, sh, keep, y, b, d = _world(0)
    auc = {name: roc_auc_score(y, fn(t, sh, keep, fv)) for name, fn, fv in [
        ("online", scoring.lira_online, False), ("online_fix", scoring.lira_online, True),
        ("offline", scoring.lira_offline, False), ("offline_fix", scoring.lira_offline, True)]}
    auc["global"] = roc_auc_score(y, scoring.global_threshold_scores(t))
    # Oracle: the true per-example LLR of the aug-mean (sd 0.5 / sqrt 2) is the best possible.
    oracle = roc_auc_score(y, d * (t.mean(1) - b - d / 2))
    assert auc["global"] > 0.5 + 4 * SE  # a real signal, but b_j hides most of it
    for v in ("", "_fix"):
        assert auc["offline" + v] > auc["global"] + 4 * SE  # per-example calibration helps
        assert auc["online" + v] > auc["offline" + v] + SE  # IN models tell how far members move
        assert auc["online" + v] <= oracle + 2 * SE
    assert auc["online_fix"] > oracle - 2 * SE, (auc, oracle)  # 16 models nearly reach the oracle


def test_fixed_variance_wins_with_few_models():
    t, sh, keep, y, _, _ = _world(1, n_models=4)  # 2 IN / 2 OUT per example: per-example sd is noise
    per_ex = roc_auc_score(y, scoring.lira_online(t, sh, keep, False))
    fixed = roc_auc_score(y, scoring.lira_online(t, sh, keep, True))
    assert fixed > per_ex + 4 * SE, (fixed, per_ex)


@pytest.mark.parametrize("fn", [scoring.lira_online, scoring.lira_offline])
@pytest.mark.parametrize("fix", [False, True])
def test_null_control(fn, fix):
    t, sh, keep, y, _, _ = _world(2, null=True)
    assert abs(roc_auc_score(y, fn(t, sh, keep, fix)) - 0.5) < 4 * SE


def test_leave_one_out():
    t, sh, keep, y, _, _ = _world(3, n_models=8)
    scores, labels = scoring.leave_one_out(sh, keep, scoring.lira_online, fix_variance=True)
    assert scores.shape == labels.shape == (8 * N_EX,)
    assert labels.dtype == bool and np.array_equal(labels, keep.reshape(-1))
    i = 5  # block i is model i scored against the other seven, never against itself
    others = np.delete(np.arange(8), i)
    want = scoring.lira_online(sh[i], sh[others], keep[others], True)
    np.testing.assert_array_equal(scores[i * N_EX:(i + 1) * N_EX], want)
    assert roc_auc_score(labels, scores) > 0.5 + 4 * math.sqrt((2 / (4 * N_EX)) / 12)
    g_scores, g_labels = scoring.leave_one_out(sh, keep, lambda tt, s, k: scoring.global_threshold_scores(tt))
    np.testing.assert_array_equal(g_scores, sh.mean(2).reshape(-1))
    with pytest.raises(ValueError, match="n_models >= 3"):
        scoring.leave_one_out(sh[:2], keep[:2])


# ---- input errors -------------------------------------------------------------------------

def test_input_errors():
    t, sh, keep = np.array(TARGET), np.array(SHADOW), np.array(KEEP_BALANCED, dtype=bool)
    with pytest.raises(ValueError, match=r"shape mismatch: target_stats \(2, 2\)"):
        scoring.lira_online(t[:2], sh, keep)
    with pytest.raises(ValueError, match=r"keep \(5, 3\) must equal shadow_stats.shape\[:2\] \(6, 3\)"):
        scoring.lira_offline(t, sh, keep[:5])
    with pytest.raises(ValueError, match=r"target_stats must be \(n_examples, n_aug\)"):
        scoring.lira_online(t, sh[None], keep)
    no_in = keep.copy()
    no_in[:, 1] = False
    with pytest.raises(ValueError, match=r"1 example\(s\) have no IN shadow model \(e.g. indices \[1\]\)"):
        scoring.lira_online(t, sh, no_in)
    scoring.lira_offline(t, sh, no_in)  # offline needs OUT models only
    with pytest.raises(ValueError, match="have no OUT shadow model"):
        scoring.lira_offline(t, sh, ~no_in)
    with pytest.raises(ValueError, match="must be finite"):
        scoring.lira_online(np.where(t > 3, np.nan, t), sh, keep)
    with pytest.raises(ValueError, match="keep must be bool"):
        scoring.lira_online(t, sh, keep * 0.5)
    with pytest.raises(ValueError, match="center must be 'mean' or 'median'; got 'mode'"):
        scoring.lira_online(t, sh, keep, center="mode")
    with pytest.raises(ValueError, match="target_stats must be finite"):
        scoring.global_threshold_scores(np.zeros((2, 2, 2)))
