"""Empirical epsilon lower bound from a membership-inference attack's scores.

A mechanism that is (epsilon, delta)-DP bounds every test that tells a member from a
non-member: for the event "score >= t", TPR <= e^eps FPR + delta, and for its complement
with the roles swapped, 1 - FPR <= e^eps (1 - TPR) + delta. An attack's TPR and FPR
therefore imply

    eps >= log((TPR - delta) / FPR)   and   eps >= log((1 - FPR - delta) / (1 - TPR))

(Jagielski et al. 2020; Nasr et al. 2021). To make this a real (1 - alpha) lower bound the
rates are replaced by Clopper-Pearson bounds (TPR by its lower, FPR by its upper bound,
each one-sided at alpha/2, so both hold together with probability >= 1 - alpha), and
the threshold must not be chosen on the data it is evaluated on. Two ways, both exposed:

- ``"split"`` (default): members and non-members are halved at random (seeded); the
  threshold and the form are chosen on the first half (by the same bound), the bound is
  computed on the second half at that single threshold. No multiple-comparison penalty,
  half the data.
- ``"bonferroni"``: every distinct threshold on all the data, with each Clopper-Pearson
  bound at alpha / (2 k) for k thresholds (union bound); the maximum is then a valid
  bound. Uses all the data but pays log k in the confidence level.

The bound treats members' and non-members' scores as independent Bernoulli trials of the
test, the usual reading of MIA results as a DP audit. With one training run they are not
independent runs of the mechanism (Steinke et al. 2023 give the rigorous one-run
analysis), so eps_lb is the privacy the attack demonstrably refutes under that
assumption. It is a bound for the membership unit the attack tests: for identity-level
units (k pairs per person) the relevant guarantee is group privacy (k eps).
Returns 0 when no threshold refutes anything (epsilon >= 0 always holds).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

METHODS = ("split", "bonferroni")


def clopper_pearson(k: np.ndarray, n: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Clopper-Pearson bounds at level ``alpha`` each: (lower, upper) for k/n."""
    from scipy.stats import beta

    k = np.asarray(k, dtype=float)
    lower = np.where(k > 0, beta.ppf(alpha, k, n - k + 1), 0.0)
    upper = np.where(k < n, beta.ppf(1 - alpha, k + 1, n - k), 1.0)
    return lower, upper


def _rates(members: np.ndarray, nonmembers: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of members / non-members with score >= t, for every t (sorted search, O(n log n))."""
    m, nm = np.sort(members), np.sort(nonmembers)
    tp = len(m) - np.searchsorted(m, thresholds, side="left")
    fp = len(nm) - np.searchsorted(nm, thresholds, side="left")
    return tp, fp


def _eps(tpr_lo: np.ndarray, fpr_hi: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Both forms of the bound, elementwise; -inf where a form refutes nothing."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where((tpr_lo - delta > 0) & (fpr_hi > 0), np.log((tpr_lo - delta) / fpr_hi), -np.inf)
        b = np.where((1 - fpr_hi - delta > 0) & (1 - tpr_lo > 0), np.log((1 - fpr_hi - delta) / (1 - tpr_lo)), -np.inf)
    return a, b


def _bounds(members, nonmembers, thresholds, delta, alpha_each):
    tp, fp = _rates(members, nonmembers, thresholds)
    tpr_lo, _ = clopper_pearson(tp, len(members), alpha_each)
    _, fpr_hi = clopper_pearson(fp, len(nonmembers), alpha_each)
    return _eps(tpr_lo, fpr_hi, delta)


def epsilon_lower_bound(scores: np.ndarray, labels: np.ndarray, delta: float = 1e-5, alpha: float = 0.05,
                        method: Literal["split", "bonferroni"] = "split", seed: int = 0) -> dict:
    """A (1 - alpha) lower bound on the epsilon of any (eps, delta)-DP guarantee the scores refute.

    ``scores``: higher = member; ``labels``: 1 member, 0 non-member. Returns ``eps_lb`` with
    the threshold and form that gave it and the settings, so a table can say how it was made.
    """
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels).astype(bool)
    if method not in METHODS:
        raise ValueError(f"epsilon_lower_bound: method={method!r} is not valid; valid: {', '.join(METHODS)}")
    if not 0 < alpha < 1 or not 0 <= delta < 1:
        raise ValueError(f"epsilon_lower_bound: need 0 < alpha < 1 and 0 <= delta < 1, got alpha={alpha}, delta={delta}")
    ok = np.isfinite(scores)
    scores, labels = scores[ok], labels[ok]
    if labels.sum() < 2 or (~labels).sum() < 2:
        raise ValueError(f"epsilon_lower_bound needs >= 2 members and non-members with finite scores; got "
                         f"{int(labels.sum())} and {int((~labels).sum())}")
    run = _split if method == "split" else _bonferroni
    eps, threshold, form = run(scores[labels], scores[~labels], delta, alpha, seed)
    return {"eps_lb": max(0.0, float(eps)), "threshold": threshold, "form": form, "delta": delta, "alpha": alpha,
            "method": method, "n_members": int(labels.sum()), "n_nonmembers": int((~labels).sum())}


def _bonferroni(members, nonmembers, delta, alpha, seed):
    thresholds = np.unique(np.concatenate([members, nonmembers]))
    a, b = _bounds(members, nonmembers, thresholds, delta, alpha / (2 * len(thresholds)))
    return _best(a, b, thresholds)


def _split(members, nonmembers, delta, alpha, seed):
    rng = np.random.default_rng(seed)
    m, nm = rng.permutation(members), rng.permutation(nonmembers)
    (m_sel, m_eval), (nm_sel, nm_eval) = np.array_split(m, 2), np.array_split(nm, 2)
    thresholds = np.unique(np.concatenate([m_sel, nm_sel]))
    a, b = _bounds(m_sel, nm_sel, thresholds, delta, alpha / 2)  # selection only: its level does not matter
    _, t, form = _best(a, b, thresholds)
    if t is None:
        return -math.inf, None, None
    a, b = _bounds(m_eval, nm_eval, np.array([t]), delta, alpha / 2)
    return (a if form == "tpr/fpr" else b)[0], t, form


def _best(a: np.ndarray, b: np.ndarray, thresholds: np.ndarray):
    i, j = int(np.argmax(a)), int(np.argmax(b))
    if not np.isfinite(max(a[i], b[j])):
        return -math.inf, None, None
    if a[i] >= b[j]:
        return float(a[i]), float(thresholds[i]), "tpr/fpr"
    return float(b[j]), float(thresholds[j]), "tnr/fnr"
