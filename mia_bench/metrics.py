"""The one metric module: every number on a leaderboard is computed here.

Conventions: ``scores`` float64 ``(N,)``, higher = member; ``labels`` bool ``(N,)``,
True = member. Definitions (used everywhere, tested against sklearn):

- AUC: area under the ROC curve = P(s_member > s_nonmember) + 0.5 P(tie).
- TPR at FPR = a: the largest TPR over ROC points whose FPR <= a. *Not resolvable*
  (None) when there are fewer than 1/a non-members: the smallest non-zero FPR is then
  above a and any number printed would be an artefact.
- Balanced accuracy: (TPR + TNR) / 2, at the best threshold (LiRA's "accuracy") or at
  the attack's own hard decisions when it makes them.
- Confidence intervals: stratified bootstrap (members and non-members resampled
  separately), percentile interval. When rows share a group (several photos of one
  person at pair level), whole groups are resampled: a cluster bootstrap, since rows of
  a group are correlated and resampling rows alone would give intervals too narrow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np


def _check(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores has {s.size} values but labels has {y.size}; they must match one-to-one")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"scores contain {int((~np.isfinite(s)).sum())} NaN/inf values; all must be finite")
    if y.dtype != bool:
        if not np.all(np.isin(y, (0, 1))):
            raise ValueError(f"labels must be bool or 0/1, got values {np.unique(y)[:5]}")
        y = y.astype(bool)
    if y.all() or not y.any():
        raise ValueError(f"labels contain only {'members' if y.any() else 'non-members'} ({y.size}); both classes are needed")
    return s, y


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ROC over all distinct thresholds, from (0, 0); ties form a single point.

    Returns ``fpr, tpr, thresholds`` where point i predicts member iff score >= thresholds[i]
    (thresholds[0] = +inf).
    """
    s, y = _check(scores, labels)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_run = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tp = np.cumsum(y)[last_of_run]
    fp = (last_of_run + 1) - tp
    tpr = np.r_[0.0, tp / y.sum()]
    fpr = np.r_[0.0, fp / (~y).sum()]
    return fpr, tpr, np.r_[np.inf, s[last_of_run]]


def _average_ranks(s: np.ndarray) -> np.ndarray:
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    starts = np.r_[0, np.nonzero(np.diff(sorted_s))[0] + 1]
    ends = np.r_[starts[1:], s.size]
    avg = (starts + ends + 1) / 2.0  # 1-based average rank of each tie run
    ranks = np.empty(s.size)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def auc(scores, labels) -> float:
    """Mann-Whitney AUC via average ranks, O(N log N)."""
    s, y = _check(scores, labels)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    rank_sum = _average_ranks(s)[y].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def tpr_at_fpr(scores, labels, fpr: float) -> float | None:
    """Largest TPR at FPR <= ``fpr``; None (not resolvable) with fewer than 1/fpr non-members."""
    s, y = _check(scores, labels)
    if (~y).sum() < 1.0 / fpr - 1e-9:
        return None
    f, t, _ = roc_curve(s, y)
    return float(t[f <= fpr + 1e-12].max())


def best_balanced_accuracy(scores, labels) -> tuple[float, float]:
    """Max over thresholds of (TPR + TNR)/2 and the threshold (member iff score >= threshold)."""
    f, t, thr = roc_curve(scores, labels)
    bal = (t + 1 - f) / 2
    i = int(np.argmax(bal))
    if np.isinf(thr[i]):  # "call nobody a member": any threshold above the top score, kept finite for JSON
        return float(bal[i]), float(np.nextafter(thr[1], np.inf))
    return float(bal[i]), float(thr[i])


def decision_metrics(decisions, labels) -> dict:
    """Metrics of hard member/non-member calls: balanced and plain accuracy, precision, recall, fpr."""
    d = np.asarray(decisions, dtype=bool).reshape(-1)
    _, y = _check(np.zeros(d.size), labels)
    tp, fp = int((d & y).sum()), int((d & ~y).sum())
    recall, fpr = tp / y.sum(), fp / (~y).sum()
    return {
        "balanced_accuracy": float((recall + 1 - fpr) / 2),
        "accuracy": float((d == y).mean()),
        "precision": None if tp + fp == 0 else tp / (tp + fp),
        "recall": float(recall),
        "fpr": float(fpr),
    }


def _class_weights(y: np.ndarray, groups: np.ndarray | None, n_boot: int, rng: np.random.Generator,
                   cls: bool) -> np.ndarray:
    """(n_boot, rows of class ``cls``) bootstrap multiplicities. With ``groups``, whole groups
    (e.g. all photos of one person) are resampled together: rows of a group are correlated,
    so resampling rows alone would understate the variance."""
    rows = np.nonzero(y == cls)[0]
    if groups is None:
        return rng.multinomial(rows.size, np.full(rows.size, 1 / rows.size), size=n_boot).astype(float)
    uniq, inverse = np.unique(groups[rows], return_inverse=True)
    counts = rng.multinomial(uniq.size, np.full(uniq.size, 1 / uniq.size), size=n_boot).astype(float)
    return counts[:, inverse]


def _check_groups(groups, n: int) -> np.ndarray | None:
    if groups is None:
        return None
    g = np.asarray([str(x) for x in groups])
    if g.shape != (n,):
        raise ValueError(f"groups has {g.size} values but scores has {n}; give one group id per row")
    return g


def bootstrap_ci(scores, labels, statistic: Callable, *, n_boot: int = 1000, confidence: float = 0.95,
                 seed: int = 0, groups=None) -> tuple[float | None, float | None]:
    """Stratified (cluster, with ``groups``) bootstrap percentile interval of
    ``statistic(scores, labels)``; resamples where it returns None are dropped."""
    s, y = _check(scores, labels)
    g = _check_groups(groups, s.size)
    rng = np.random.default_rng(seed)
    pos, neg = np.nonzero(y)[0], np.nonzero(~y)[0]
    w_pos, w_neg = _class_weights(y, g, n_boot, rng, True), _class_weights(y, g, n_boot, rng, False)
    values = []
    for b in range(n_boot):
        idx = np.concatenate([np.repeat(pos, w_pos[b].astype(int)), np.repeat(neg, w_neg[b].astype(int))])
        values.append(statistic(s[idx], y[idx]))
    defined = np.array([v for v in values if v is not None], dtype=float)
    if defined.size == 0:
        return None, None
    return _percentiles(defined, confidence)


ROC_BLOCK = 4_000_000  # weights per block of replicates (32 MB of float64): bounds memory on large challenges


def roc_bootstrap(scores, labels, *, n_boot: int = 1000, seed: int = 0, groups=None,
                  fprs: tuple[float, ...] = (0.01, 0.001)) -> dict[str, np.ndarray]:
    """The ROC statistics of ``n_boot`` stratified (cluster) bootstrap resamples at once:
    ``balanced_accuracy`` (best threshold) and ``tpr_at_1fpr`` / ``tpr_at_01fpr`` (NaN where
    a resample has too few non-members to resolve the FPR), each ``(n_boot,)``.

    The same resamples as :func:`bootstrap_ci` with the same ``seed`` (it draws the same
    multiplicities), and the same numbers: a resample's ROC is the weighted cumulative count
    of members and non-members down the scores sorted once, and a score a resample did not
    draw only repeats the previous ROC point, which changes neither maximum. Vectorised
    over replicates, it replaces a Python loop of ``n_boot`` ROC curves per statistic."""
    s, y = _check(scores, labels)
    g = _check_groups(groups, s.size)
    rng = np.random.default_rng(seed)
    w_pos, w_neg = _class_weights(y, g, n_boot, rng, True), _class_weights(y, g, n_boot, rng, False)
    order = np.argsort(-s, kind="mergesort")
    member = y[order]
    rank = np.empty(s.size, dtype=np.int64)
    rank[order] = np.arange(s.size)
    pos_cols, neg_cols = rank[np.nonzero(y)[0]], rank[np.nonzero(~y)[0]]
    last_of_run = np.r_[np.nonzero(np.diff(s[order]))[0], s.size - 1]
    names = {0.01: "tpr_at_1fpr", 0.001: "tpr_at_01fpr"}
    out = {"balanced_accuracy": np.empty(n_boot), **{names.get(a, f"tpr_at_{a:g}fpr"): np.empty(n_boot) for a in fprs}}
    step = max(1, ROC_BLOCK // max(s.size, 1))
    for lo in range(0, n_boot, step):
        hi = min(n_boot, lo + step)
        w = np.zeros((hi - lo, s.size))
        w[:, pos_cols], w[:, neg_cols] = w_pos[lo:hi], w_neg[lo:hi]
        n_p, n_n = w_pos[lo:hi].sum(1, keepdims=True), w_neg[lo:hi].sum(1, keepdims=True)
        tp = np.cumsum(np.where(member, w, 0.0), axis=1)[:, last_of_run]
        fp = np.cumsum(np.where(member, 0.0, w), axis=1)[:, last_of_run]
        zeros = np.zeros((hi - lo, 1))
        tpr, fpr = np.hstack([zeros, tp / n_p]), np.hstack([zeros, fp / n_n])
        out["balanced_accuracy"][lo:hi] = ((tpr + 1 - fpr) / 2).max(1)
        for a in fprs:
            best = np.where(fpr <= a + 1e-12, tpr, -np.inf).max(1)
            out[names.get(a, f"tpr_at_{a:g}fpr")][lo:hi] = np.where(n_n[:, 0] < 1.0 / a - 1e-9, np.nan, best)
    return out


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return float(lo), float(hi)


def auc_bootstrap(scores, labels, n_boot: int = 1000, seed: int = 0, groups=None) -> np.ndarray:
    """``n_boot`` stratified-bootstrap AUCs, vectorised: a resample is a weight vector over
    members and one over non-members (multiplicities; whole groups with ``groups``), and
    AUC = sum_ij w_i v_j ([s_i > s_j] + [s_i = s_j]/2) / (sum w * sum v), computed from
    sorted non-member scores with cumulative weights."""
    s, y = _check(scores, labels)
    g = _check_groups(groups, s.size)
    rng = np.random.default_rng(seed)
    w_pos, w_neg = _class_weights(y, g, n_boot, rng, True), _class_weights(y, g, n_boot, rng, False)
    return weighted_aucs(s[y], s[~y], w_pos, w_neg)


def weighted_aucs(pos: np.ndarray, neg: np.ndarray, w_pos: np.ndarray, w_neg: np.ndarray) -> np.ndarray:
    """AUC under each row of multiplicities: ``w_pos`` (B, members), ``w_neg`` (B, non-members)."""
    n_boot = w_pos.shape[0]
    order = np.argsort(neg, kind="mergesort")
    neg_sorted, w_neg = neg[order], w_neg[:, order]
    cum = np.concatenate([np.zeros((n_boot, 1)), np.cumsum(w_neg, axis=1)], axis=1)
    below = np.searchsorted(neg_sorted, pos, side="left")  # non-members strictly below each member
    upto = np.searchsorted(neg_sorted, pos, side="right")
    less = cum[:, below]
    per_pos = less + 0.5 * (cum[:, upto] - less)  # (n_boot, n_pos): weighted non-members beaten
    return (w_pos * per_pos).sum(1) / (w_pos.sum(1) * w_neg.sum(1))


@dataclass(frozen=True)
class MetricReport:
    n_members: int
    n_nonmembers: int
    auc: float
    auc_ci: tuple
    balanced_accuracy: float
    balanced_accuracy_ci: tuple
    threshold: float
    tpr_at_1fpr: float | None
    tpr_at_1fpr_ci: tuple
    tpr_at_01fpr: float | None
    tpr_at_01fpr_ci: tuple
    precision: float | None
    recall: float
    decision_accuracy: float | None

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "MetricReport":
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**fields)


def evaluate(scores, labels, decisions=None, *, n_boot: int = 1000, confidence: float = 0.95,
             seed: int = 0, groups=None) -> MetricReport:
    """All leaderboard metrics with bootstrap CIs (cluster bootstrap over ``groups`` when
    rows share a group, e.g. several photos of one person). Precision/recall at the
    attack's own decisions when given, else at the best-balanced-accuracy threshold."""
    s, y = _check(scores, labels)
    bal, thr = best_balanced_accuracy(s, y)
    dec = np.asarray(decisions, dtype=bool) if decisions is not None else s >= thr
    dm = decision_metrics(dec, y)
    reps = roc_bootstrap(s, y, n_boot=n_boot, seed=seed, groups=groups)

    def interval(name: str) -> tuple[float | None, float | None]:
        defined = reps[name][~np.isnan(reps[name])]
        return _percentiles(defined, confidence) if defined.size else (None, None)

    return MetricReport(
        n_members=int(y.sum()),
        n_nonmembers=int((~y).sum()),
        auc=auc(s, y),
        auc_ci=_percentiles(auc_bootstrap(s, y, n_boot, seed, groups), confidence),
        balanced_accuracy=bal,
        balanced_accuracy_ci=interval("balanced_accuracy"),
        threshold=thr,
        tpr_at_1fpr=tpr_at_fpr(s, y, 0.01),
        tpr_at_1fpr_ci=interval("tpr_at_1fpr"),
        tpr_at_01fpr=tpr_at_fpr(s, y, 0.001),
        tpr_at_01fpr_ci=interval("tpr_at_01fpr"),
        precision=dm["precision"],
        recall=dm["recall"],
        decision_accuracy=decision_metrics(decisions, y)["balanced_accuracy"] if decisions is not None else None,
    )


def roc_points_for_plot(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """FPR/TPR for a log-log plot: zero FPR (and TPR) is clipped to 1/(2 n) so the curve's
    start stays visible; the clipping is below any resolvable rate."""
    f, t, _ = roc_curve(scores, labels)
    y = np.asarray(labels, dtype=bool)
    return np.maximum(f, 0.5 / (~y).sum()), np.maximum(t, 0.5 / y.sum())
