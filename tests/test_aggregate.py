"""Aggregation over seeds, checked against independent computations written here.

The two-level bootstrap and the pooled TPR are re-implemented with plain loops (pick
seeds, pick whole groups within each class, pool, count); the exact interval with
``scipy.stats.beta``. Bootstrap distributions are random, so they are compared by their
mean, SD and percentiles with margins derived from the number of replicates.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mia_bench.aggregate import (
    FLAG_DEV_SEEDS,
    FLAG_INVERTED,
    FLAG_OFF_CHANCE,
    AggRow,
    SeedScores,
    aggregate_seeds,
    clopper_pearson,
    row_flags,
)

B = 2000


def _seed(seed: int, shift: float, n_pos_groups: int, n_neg_groups: int, per_group: int) -> SeedScores:
    """Rows in groups sharing a random effect (so groups matter); members shifted by ``shift``."""
    rng = np.random.default_rng(1000 + seed)
    n_groups = n_pos_groups + n_neg_groups
    group_effect = rng.normal(0, 1.0, n_groups)
    g = np.repeat(np.arange(n_groups), per_group)
    y = g < n_pos_groups
    s = group_effect[g] + rng.normal(0, 0.5, g.size) + shift * y
    d = s > np.median(s)
    return SeedScores(seed, s, y, np.array([f"s{seed}g{i}" for i in g]), d, np.array([f"r{i}" for i in range(g.size)]))


def _auc_loop(s: np.ndarray, y: np.ndarray) -> float:
    pos, neg = s[y], s[~y]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (pos.size * neg.size)


def _resample_rows(sd: SeedScores, rng: np.random.Generator, by_group: bool = True, memo=None) -> np.ndarray:
    """Row indices of one stratified (cluster) resample of a seed."""
    out = []
    for cls in (True, False):
        rows = np.nonzero(sd.labels == cls)[0]
        if not by_group:
            out.append(rng.choice(rows, rows.size, replace=True))
            continue
        memo = {} if memo is None else memo  # the rows of each group, per (seed, class)
        key = (sd.seed, cls)
        if key not in memo:
            memo[key] = [rows[sd.groups[rows] == g] for g in np.unique(sd.groups[rows])]
        members = memo[key]
        out += [members[i] for i in rng.integers(0, len(members), len(members))]
    return np.concatenate(out)



def _two_level_loop(seeds, rng, n_boot=B, resample_seeds=True, by_group=True) -> np.ndarray:
    reps, memo = [], {}
    for _ in range(n_boot):
        drawn = rng.integers(0, len(seeds), len(seeds)) if resample_seeds else range(len(seeds))
        vals = []
        for j in drawn:
            idx = _resample_rows(seeds[j], rng, by_group, memo)
            vals.append(_auc_loop(seeds[j].scores[idx], seeds[j].labels[idx]))
        reps.append(np.mean(vals))
    return np.array(reps)


def _close(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Same distribution, within Monte-Carlo error of two independent B-replicate samples."""
    sd = theirs.std()
    assert abs(ours.mean() - theirs.mean()) < 4 * sd * np.sqrt(2 / B)
    assert abs(ours.std() - sd) < 4 * sd / np.sqrt(B)
    for q in (0.025, 0.975):
        se = np.sqrt(q * (1 - q) / B) / stats.norm.pdf(stats.norm.ppf(q)) * sd
        assert abs(np.quantile(ours, q) - np.quantile(theirs, q)) < 4 * np.sqrt(2) * se


@pytest.mark.parametrize("shifts,skip_level", [
    ((0.0, 1.5, 0.75), {"resample_seeds": False}),  # seeds differ: the seed level dominates
    ((0.8,), {"by_group": False}),  # one seed: a cluster bootstrap, groups dominate
])
def test_two_level_bootstrap_matches_a_loop_over_seeds_then_groups(shifts, skip_level):
    seeds = [_seed(i, shift, 40, 40, 3) for i, shift in enumerate(shifts)]
    agg = aggregate_seeds(seeds, n_boot=B)
    ours = agg.replicates["auc"]
    theirs = _two_level_loop(seeds, np.random.default_rng(7))
    _close(ours, theirs)
    per_seed = [_auc_loop(sd.scores, sd.labels) for sd in seeds]
    assert agg.auc_mean == pytest.approx(np.mean(per_seed), abs=1e-12)
    if len(seeds) > 1:
        assert agg.auc_sd == pytest.approx(np.std(per_seed, ddof=1), abs=1e-12)
    assert agg.auc_ci == pytest.approx(tuple(np.quantile(ours, [0.025, 0.975])))
    # the comparison has power: dropping that level gives a clearly narrower distribution
    wrong = _two_level_loop(seeds, np.random.default_rng(8), n_boot=500, **skip_level)
    assert wrong.std() < ours.std() - 4 * ours.std() / np.sqrt(500)


def _pooled_loop(s, y, fpr):
    """Largest TPR over thresholds t (member iff s >= t) with FPR <= fpr; returns the point."""
    best = (0.0, 0.0, None, 0, 0)
    for t in np.unique(s)[::-1]:
        called = s >= t
        f, k = (called & ~y).sum() / (~y).sum(), int((called & y).sum())
        if f <= fpr and k / y.sum() > best[0]:
            best = (k / y.sum(), f, t, k, int((called & ~y).sum()))
    return best


def test_pooled_tpr_matches_counting_and_exact_interval_matches_beta_quantiles():
    seeds = [_seed(i, shift, 150, 200, 2) for i, shift in enumerate((1.0, 1.5, 1.2))]
    s = np.concatenate([sd.scores for sd in seeds])
    y = np.concatenate([sd.labels for sd in seeds])
    agg = aggregate_seeds(seeds, n_boot=B)
    for fpr, got in ((0.01, agg.tpr_1), (0.001, agg.tpr_01)):
        tpr, realised, thr, k, fp = _pooled_loop(s, y, fpr)
        assert got.tpr == pytest.approx(tpr) and got.k == k and got.n == y.sum() and got.fp == fp
        assert got.realised_fpr == pytest.approx(realised) and got.realised_fpr <= fpr
        assert got.threshold == pytest.approx(thr) and got.n_neg == (~y).sum() == 1200
        lo = stats.beta.ppf(0.025, k, got.n - k + 1) if k else 0.0
        hi = stats.beta.ppf(0.975, k + 1, got.n - k) if k < got.n else 1.0
        assert got.ci_exact == pytest.approx((lo, hi), abs=1e-9)
    # pooled bootstrap: seeds, then groups within each seed and class, pooled, one threshold
    rng, reps, memo = np.random.default_rng(9), [], {}
    for _ in range(B):
        idx = [(j, _resample_rows(seeds[j], rng, memo=memo)) for j in rng.integers(0, 3, 3)]
        ps = np.concatenate([seeds[j].scores[i] for j, i in idx])
        py = np.concatenate([seeds[j].labels[i] for j, i in idx])
        reps.append(_tpr_by_order_statistic(ps, py, 0.01))
    theirs = np.array(reps)
    sd = theirs.std()
    lo, hi = agg.tpr_1.ci_bootstrap
    for q, ours_q in ((0.025, lo), (0.975, hi)):
        se = np.sqrt(q * (1 - q) / B) / stats.norm.pdf(stats.norm.ppf(q)) * sd
        assert abs(ours_q - np.quantile(theirs, q)) < 4 * np.sqrt(2) * se + 1 / y.sum()  # + one member's step


def _tpr_by_order_statistic(s, y, fpr):
    """With continuous scores, the best TPR at FPR <= fpr calls members above the (m+1)-th
    largest non-member score, m = floor(fpr * non-members) (copies counted: at most m above it)."""
    neg = np.sort(s[~y])[::-1]
    m = int(np.floor(fpr * neg.size + 1e-9))
    return (s[y] > neg[m]).mean()


@pytest.mark.parametrize("k,n", [(0, 50), (3, 50), (50, 50), (17, 1000)])
def test_clopper_pearson_is_the_binomial_tail_inversion(k, n):
    lo, hi = clopper_pearson(k, n)
    if k > 0:  # P(X >= k | lo) = 2.5%
        assert stats.binom.sf(k - 1, n, lo) == pytest.approx(0.025, abs=1e-9)
    else:
        assert lo == 0.0
    if k < n:  # P(X <= k | hi) = 2.5%
        assert stats.binom.cdf(k, n, hi) == pytest.approx(0.025, abs=1e-9)
    else:
        assert hi == 1.0


def test_pooled_decision_metrics_count_every_seed():
    seeds = [_seed(i, 1.0, 30, 40, 2) for i in range(3)]
    agg = aggregate_seeds(seeds, n_boot=200)
    d = np.concatenate([sd.decisions for sd in seeds])
    y = np.concatenate([sd.labels for sd in seeds])
    tp, fp = (d & y).sum(), (d & ~y).sum()
    assert agg.precision == pytest.approx(tp / (tp + fp))
    assert agg.recall == pytest.approx(tp / y.sum())
    assert agg.balanced_accuracy == pytest.approx((tp / y.sum() + 1 - fp / (~y).sum()) / 2)
    assert agg.recall_exact_ci == pytest.approx(clopper_pearson(int(tp), int(y.sum())))


def _agg_row(ci, control=False, model_free=False, seeds=(0, 1, 2)):
    return AggRow(key="k", attack="a", target="t", defense="none", seed=seeds[0], control=control,
                  model_free=model_free, biometric=False, auc=sum(ci) / 2, auc_ci=ci, seeds=list(seeds))


@pytest.mark.parametrize("ci,control,model_free,flags", [
    ((0.52, 0.60), True, False, [FLAG_OFF_CHANCE]),
    ((0.40, 0.48), True, False, [FLAG_OFF_CHANCE]),
    ((0.52, 0.60), False, True, [FLAG_OFF_CHANCE]),
    ((0.45, 0.55), True, False, []),
    ((0.40, 0.48), False, False, [FLAG_INVERTED]),
    ((0.45, 0.55), False, False, []),
    ((0.70, 0.80), False, False, []),
])
def test_row_flags(ci, control, model_free, flags):
    assert row_flags(_agg_row(ci, control, model_free)) == flags


def test_dev_seeds_are_flagged():
    assert row_flags(_agg_row((0.6, 0.7), seeds=(100, 101))) == [FLAG_DEV_SEEDS]
