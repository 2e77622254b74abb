"""The metric module on hand-computed cases and against sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mia_bench import metrics as M


def test_hand_cases():
    y = np.array([1, 1, 1, 0, 0, 0], bool)
    assert M.auc([6, 5, 4, 3, 2, 1], y) == 1.0
    assert M.auc([1, 2, 3, 4, 5, 6], y) == 0.0
    assert M.auc(np.ones(6), y) == 0.5
    # members 3, 2, 1 vs non-members 2, 1, 0: wins 3+2.5+... by hand:
    # 3 beats all three (3); 2 beats 1,0 and ties 2 (2.5); 1 beats 0 and ties 1 (1.5) -> 7/9
    assert M.auc([3, 2, 1, 2, 1, 0], y) == pytest.approx(7 / 9)
    bal, thr = M.best_balanced_accuracy(np.ones(6), y)
    assert bal == 0.5 and np.isfinite(thr)  # thresholds go into JSON: never +inf


def test_tpr_at_fpr_definition_and_resolvability():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(100, bool), np.zeros(100, bool)]
    s = np.r_[rng.normal(1, 1, 100), rng.normal(0, 1, 100)]
    fpr, tpr, _ = M.roc_curve(s, y)
    assert M.tpr_at_fpr(s, y, 0.01) == tpr[fpr <= 0.01].max()
    assert M.tpr_at_fpr(s[:150], y[:150], 0.01) is None  # 50 non-members < 1/0.01
    assert M.tpr_at_fpr(s, y, 0.001) is None
    # hand case: 4 members, 100 non-members; the top non-member outranks two members
    s2 = np.r_[[10, 9, 0.5, 0.4], np.linspace(0, 1, 100)]
    s2[4:][-1] = 5  # one non-member at 5
    y2 = np.r_[np.ones(4, bool), np.zeros(100, bool)]
    assert M.tpr_at_fpr(s2, y2, 0.01) == 0.5


def test_decision_metrics_precision_none_without_positives():
    y = np.array([1, 0, 1, 0], bool)
    d = M.decision_metrics(np.zeros(4, bool), y)
    assert d["precision"] is None and d["recall"] == 0 and d["balanced_accuracy"] == 0.5


@pytest.mark.parametrize("seed", range(8))
def test_against_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(300) < 0.4
    s = np.round(rng.normal(y * 0.5, 1), 1)  # rounding makes ties
    assert M.auc(s, y) == pytest.approx(skm.roc_auc_score(y, s))
    fpr, tpr, thr = M.roc_curve(s, y)
    sf, st, _ = skm.roc_curve(y, s, drop_intermediate=False)
    assert np.allclose(fpr, sf) and np.allclose(tpr, st)
    bal = max((t + 1 - f) / 2 for f, t in zip(sf, st))
    assert M.best_balanced_accuracy(s, y)[0] == pytest.approx(bal)


def test_errors_say_what_was_wrong():
    with pytest.raises(ValueError, match="NaN/inf"):
        M.auc([np.nan, 1], [True, False])
    with pytest.raises(ValueError, match="scores has 3 values but labels has 2"):
        M.auc([1, 2, 3], [True, False])
    with pytest.raises(ValueError, match="only members"):
        M.auc([1, 2], [True, True])


def test_vectorised_bootstrap_matches_generic():
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(150, bool), np.zeros(150, bool)]
    s = np.r_[rng.normal(0.5, 1, 150), rng.normal(0, 1, 150)]
    fast = M.auc_bootstrap(s, y, 2000, seed=0)
    slow_lo, slow_hi = M.bootstrap_ci(s, y, M.auc, n_boot=2000, seed=1)
    lo, hi = np.quantile(fast, [0.025, 0.975])
    # percentile endpoints from 2000 resamples wobble by ~0.01 (Monte Carlo error)
    assert abs(lo - slow_lo) < 0.02 and abs(hi - slow_hi) < 0.02
    assert lo < M.auc(s, y) < hi


@pytest.mark.parametrize("grouped", [False, True])
def test_roc_bootstrap_equals_the_statistic_on_each_resample(grouped, monkeypatch):
    """The vectorised ROC bootstrap gives, replicate by replicate, exactly what the scalar
    functions give on the resampled rows: ties, groups of unequal size (cluster resamples
    of varying length) and a challenge where 0.1% FPR is sometimes not resolvable."""
    rng = np.random.default_rng(3)
    n = 2000
    y = rng.permutation(np.arange(n) < n // 2)  # exactly 1,000 non-members: 0.1% FPR just resolvable
    s = np.round(rng.normal(0.6 * y, 1.0), 1)  # rounded: many tied scores
    groups = rng.integers(0, 600, n).astype(str) if grouped else None
    monkeypatch.setattr(M, "ROC_BLOCK", 7 * n)  # several blocks of replicates
    reps = M.roc_bootstrap(s, y, n_boot=40, seed=5, groups=groups)
    g = None if groups is None else np.asarray(groups)
    r = np.random.default_rng(5)
    w_pos, w_neg = M._class_weights(y, g, 40, r, True), M._class_weights(y, g, 40, r, False)
    pos, neg = np.nonzero(y)[0], np.nonzero(~y)[0]
    unresolvable = 0
    for b in range(40):
        idx = np.concatenate([np.repeat(pos, w_pos[b].astype(int)), np.repeat(neg, w_neg[b].astype(int))])
        assert reps["balanced_accuracy"][b] == M.best_balanced_accuracy(s[idx], y[idx])[0]
        for name, a in (("tpr_at_1fpr", 0.01), ("tpr_at_01fpr", 0.001)):
            want = M.tpr_at_fpr(s[idx], y[idx], a)
            if want is None:
                unresolvable += 1
                assert np.isnan(reps[name][b])
            else:
                assert reps[name][b] == want
    assert (unresolvable > 0) == grouped  # cluster resamples vary in size: some fall below 1,000 non-members


def test_evaluate_intervals_match_the_generic_bootstrap():
    rng = np.random.default_rng(4)
    y = np.r_[np.ones(300, bool), np.zeros(1200, bool)]
    s = rng.normal(0.8 * y, 1.0)
    report = M.evaluate(s, y, n_boot=200, seed=2)
    assert report.balanced_accuracy_ci == M.bootstrap_ci(
        s, y, lambda a, b: M.best_balanced_accuracy(a, b)[0], n_boot=200, seed=2)
    assert report.tpr_at_1fpr_ci == M.bootstrap_ci(s, y, lambda a, b: M.tpr_at_fpr(a, b, 0.01), n_boot=200, seed=2)
    assert report.tpr_at_01fpr_ci == M.bootstrap_ci(s, y, lambda a, b: M.tpr_at_fpr(a, b, 0.001), n_boot=200, seed=2)


def test_ci_width_shrinks_like_one_over_sqrt_n():
    rng = np.random.default_rng(2)

    def width(n):
        y = np.r_[np.ones(n, bool), np.zeros(n, bool)]
        s = np.r_[rng.normal(0.5, 1, n), rng.normal(0, 1, n)]
        lo, hi = M.evaluate(s, y, n_boot=1000).auc_ci
        return hi - lo

    ratio = width(100) / width(1600)
    assert 2.5 < ratio < 6  # 4 expected for sqrt(16)


def test_cluster_bootstrap_is_wider_for_correlated_rows():
    """Five near-copies per group: the cluster bootstrap sees 40+40 groups, not 200+200 rows."""
    rng = np.random.default_rng(3)
    base = rng.normal(0, 1, 80)
    s = np.repeat(base, 5) + rng.normal(0, 0.01, 400)
    y = np.repeat(np.r_[np.ones(40, bool), np.zeros(40, bool)], 5)
    groups = np.repeat(np.arange(80), 5)
    lo_r, hi_r = M.evaluate(s, y, n_boot=1000).auc_ci
    lo_c, hi_c = M.evaluate(s, y, n_boot=1000, groups=groups).auc_ci
    assert (hi_c - lo_c) > 1.8 * (hi_r - lo_r)  # sqrt(5) ~ 2.2 expected


def test_noise_ci_covers_half_about_95_percent():
    """Coverage of the 95% AUC CI on pure noise (200 + 200), 200 repetitions: the count of
    misses is Binomial(200, 0.05) (mean 10, sd 3.1); 22 misses is ~4 sd above the mean."""
    misses = 0
    for rep in range(200):
        rng = np.random.default_rng(100 + rep)
        y = np.r_[np.ones(200, bool), np.zeros(200, bool)]
        lo, hi = M._percentiles(M.auc_bootstrap(rng.normal(size=400), y, 400, seed=rep), 0.95)
        misses += not (lo <= 0.5 <= hi)
    assert misses <= 22


def test_report_round_trips_through_json():
    import json

    y = np.r_[np.ones(120, bool), np.zeros(120, bool)]
    s = np.linspace(0, 1, 240)
    r = M.evaluate(s, y, n_boot=200)
    assert M.MetricReport.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    assert r.tpr_at_1fpr is not None and r.tpr_at_01fpr is None
