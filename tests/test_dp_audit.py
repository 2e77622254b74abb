"""The empirical epsilon lower bound, against an independent computation written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import beta, binom

from mia_bench.dp_audit import clopper_pearson, epsilon_lower_bound


def _cp_by_hand(k: int, n: int, alpha: float) -> tuple[float, float]:
    lower = 0.0 if k == 0 else beta.ppf(alpha, k, n - k + 1)
    upper = 1.0 if k == n else beta.ppf(1 - alpha, k + 1, n - k)
    return lower, upper


def _eps_by_hand(tpr_lo: float, fpr_hi: float, delta: float) -> float:
    best = -math.inf
    if tpr_lo - delta > 0 and fpr_hi > 0:
        best = max(best, math.log((tpr_lo - delta) / fpr_hi))
    if 1 - fpr_hi - delta > 0 and 1 - tpr_lo > 0:
        best = max(best, math.log((1 - fpr_hi - delta) / (1 - tpr_lo)))
    return best


def test_clopper_pearson_closed_forms():
    # k = 0: the upper bound solves (1 - p)^n = alpha; k = n: the lower bound solves p^n = alpha.
    lo, hi = clopper_pearson(np.array([0, 10]), 10, 0.05)
    assert hi[0] == pytest.approx(1 - 0.05 ** (1 / 10), rel=1e-9)
    assert lo[1] == pytest.approx(0.05 ** (1 / 10), rel=1e-9)
    assert lo[0] == 0 and hi[1] == 1
    for k in (1, 3, 7):  # interior: the binomial tail at the bound is alpha
        lo, hi = clopper_pearson(np.array([k]), 10, 0.05)
        assert binom.sf(k - 1, 10, lo[0]) == pytest.approx(0.05, abs=1e-9)
        assert binom.cdf(k, 10, hi[0]) == pytest.approx(0.05, abs=1e-9)


def test_bonferroni_bound_matches_a_loop_over_thresholds():
    rng = np.random.default_rng(3)
    members, nonmembers = rng.normal(1.5, 1, 120), rng.normal(0, 1, 150)
    scores = np.concatenate([members, nonmembers])
    labels = np.r_[np.ones(120), np.zeros(150)]
    delta, alpha = 1e-3, 0.05
    thresholds = sorted(set(scores.tolist()))
    a = alpha / (2 * len(thresholds))
    best = -math.inf
    for t in thresholds:
        tp, fp = int((members >= t).sum()), int((nonmembers >= t).sum())
        tpr_lo, _ = _cp_by_hand(tp, 120, a)
        _, fpr_hi = _cp_by_hand(fp, 150, a)
        best = max(best, _eps_by_hand(tpr_lo, fpr_hi, delta))
    got = epsilon_lower_bound(scores, labels, delta=delta, alpha=alpha, method="bonferroni")
    assert got["eps_lb"] == pytest.approx(max(0.0, best), rel=1e-9, abs=1e-12)
    assert got["eps_lb"] > 0.5  # d' = 1.5 with 270 scores refutes small epsilons


def test_split_bound_is_the_held_out_half_at_the_chosen_threshold():
    rng = np.random.default_rng(4)
    members, nonmembers = rng.normal(2, 1, 200), rng.normal(0, 1, 200)
    scores, labels = np.concatenate([members, nonmembers]), np.r_[np.ones(200), np.zeros(200)]
    got = epsilon_lower_bound(scores, labels, delta=1e-5, seed=7)
    # the same halves the module draws (documented: seeded permutation, first half selects)
    perm = np.random.default_rng(7)
    m_eval = np.array_split(perm.permutation(members), 2)[1]
    nm_eval = np.array_split(perm.permutation(nonmembers), 2)[1]
    t = got["threshold"]
    tpr_lo, _ = _cp_by_hand(int((m_eval >= t).sum()), len(m_eval), 0.025)
    _, fpr_hi = _cp_by_hand(int((nm_eval >= t).sum()), len(nm_eval), 0.025)
    a = math.log((tpr_lo - 1e-5) / fpr_hi) if got["form"] == "tpr/fpr" else \
        math.log((1 - fpr_hi - 1e-5) / (1 - tpr_lo))
    assert got["eps_lb"] == pytest.approx(max(0.0, a), rel=1e-9)


@pytest.mark.parametrize("method", ["split", "bonferroni"])
def test_the_bound_covers_a_mechanism_of_known_epsilon(method):
    """Randomised response is exactly eps-DP: the 95% bound may exceed eps in <= 5% of trials."""
    eps, n, trials = 1.0, 300, 200
    p_member = math.exp(eps) / (1 + math.exp(eps))
    rng = np.random.default_rng(0)
    over, bounds = 0, []
    for trial in range(trials):
        scores = np.r_[rng.random(n) < p_member, rng.random(n) < 1 - p_member].astype(float)
        scores += rng.random(2 * n) * 1e-6  # ties broken: many thresholds, as with real scores
        lb = epsilon_lower_bound(scores, np.r_[np.ones(n), np.zeros(n)], delta=0.0, method=method, seed=trial)["eps_lb"]
        over += lb > eps
        bounds.append(lb)
    assert over <= binom.ppf(0.999, trials, 0.05)  # the 95% level, with a 0.1% false-alarm margin
    assert np.mean(bounds) > 0.3 * eps  # and it is not vacuous at n = 300


def test_no_signal_gives_zero_and_bad_input_is_a_clear_error():
    rng = np.random.default_rng(1)
    assert epsilon_lower_bound(rng.random(100), np.r_[np.ones(50), np.zeros(50)])["eps_lb"] < 0.5
    assert epsilon_lower_bound(np.r_[np.zeros(50), np.ones(50)], np.r_[np.ones(50), np.zeros(50)])["eps_lb"] == 0
    with pytest.raises(ValueError, match="method='best' is not valid"):
        epsilon_lower_bound(rng.random(10), np.r_[np.ones(5), np.zeros(5)], method="best")
    with pytest.raises(ValueError, match="needs >= 2 members"):
        epsilon_lower_bound(rng.random(3), np.array([1, 0, 0]))
