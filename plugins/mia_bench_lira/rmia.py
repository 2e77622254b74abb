"""RMIA scoring core (Zarifzadeh, Liu and Shokri, "Low-Cost High-Power Membership Inference
Attacks", ICML 2024): numpy/scipy only, no torch. Higher score = more likely member.

    LR(x, z) = (p(x|theta) / p(x)) / (p(z|theta) / p(z)),   score(x) = Pr_z[LR(x, z) >= gamma]

theta is the target model, z ranges over the attacker's population samples (known
non-members of the target), and p(x) = E_theta' p(x|theta') averages reference models:

- online: IN and OUT reference models, p(x) = (mean_IN p + mean_OUT p) / 2. With balanced
  masks this is the plain average over all reference models; written as the mean of the two
  group means it stays the paper's "half IN, half OUT" average when the counts differ (a
  leave-one-out target takes one model out of one group, and a plain average would then
  leak its label through the count);
- offline: OUT models only, with the paper's linear correction for the missing IN models,
  p_IN(x) ~ a p_OUT(x) + (1 - a), so p(x) = ((1 + a) p_OUT(x) + (1 - a)) / 2.

z is treated exactly like x (the same reference models, the same formula for p(z)), so the
two ratios in LR are comparable. Shapes as in :mod:`.scoring`: target probabilities
``(n, n_views)``, reference ``(n_models, n, n_views)``, keep ``(n_models, n)`` bool; a
1-D / 2-D array is read as one view.

Choices the paper leaves open, recorded here:
- Augmented views: p(x|theta) is the mean of the per-view probabilities (the pair's
  probability averaged over the queries), for the target and every reference model alike.
- The probability of a contrastive pair: :func:`pair_log_probability` (the statistic the
  pool already caches), never a cosine passed off as a probability without saying so.
- Ties: LR >= gamma counts (the paper's definition), with log ratios within ``TIE_TOLERANCE``
  (float rounding) taken as equal. A challenge row that is also one of the
  z samples (``self_z``) is not compared with itself: LR(x, x) = 1 would count for x only
  when it is a non-member of the reference set (leave-one-out), a label leak.
- Defaults: gamma = 1 (x counts a z when its ratio is at least z's; ML Privacy Meter's
  released code compares LR > 1) and a = 0.3. The paper tunes a by attacking one reference
  model with the others; ``mia-bench lira-loo --a`` evaluates any a leave-one-out.
- Everything is computed in log space (log-mean-exp over models and views), so a
  probability that underflows never gives 0/0.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_expit, logsumexp

from .scoring import _as_keep

PROBABILITIES = {
    "logit": "softmax probability of the true caption among the fixed candidates = sigmoid(logit)",
    "neg-loss": "exp(-loss): the same softmax probability as logit, from the loss",
    "atanh-cos": "(1 + cos) / 2 = sigmoid(2 atanh cos): a cosine mapped into (0, 1), not an event's probability",
}


def pair_log_probability(stats, statistic: str) -> np.ndarray:
    """log p(pair | model) from a LiRA statistic of :mod:`.statistics` (any shape in, same out).

    ``logit``: the statistic is log(p / (1 - p)) of the true caption's softmax probability
    among the candidate captions (an in-batch retrieval probability), so log p = log sigmoid.
    ``neg-loss``: the statistic is log p itself. ``atanh-cos``: log((1 + cos) / 2)."""
    s = np.asarray(stats, dtype=np.float64)
    if statistic == "logit":
        return log_expit(s)
    if statistic == "neg-loss":
        if np.any(s > 1e-9):
            raise ValueError(f"neg-loss statistics are log-probabilities and must be <= 0; got max {s.max()}")
        return np.minimum(s, 0.0)
    if statistic == "atanh-cos":
        return log_expit(2.0 * s)
    raise ValueError(f"statistic={statistic!r} has no probability; valid: {', '.join(PROBABILITIES)}")


def _views(log_p, name: str, ndim: int) -> np.ndarray:
    """Log of the view-averaged probability: (..., n_views) -> (...)."""
    x = np.asarray(log_p, dtype=np.float64)
    x = x[..., None] if x.ndim == ndim else x
    if x.ndim != ndim + 1 or np.isnan(x).any() or np.any(x > 1e-9):
        raise ValueError(f"{name} must be log-probabilities (<= 0, no NaN) of {ndim + 1} dims (last: views); "
                         f"got shape {np.shape(log_p)}")
    return logsumexp(x, axis=-1) - np.log(x.shape[-1])


def _log_mean(log_p: np.ndarray, mask: np.ndarray, side: str) -> np.ndarray:
    """log of the mean over the models selected by mask, per example: (n_models, n) -> (n,)."""
    count = mask.sum(0)
    if np.any(count == 0):
        bad = np.flatnonzero(count == 0)
        raise ValueError(f"{bad.size} example(s) have no {side} reference model (e.g. indices {bad[:5].tolist()}); "
                         f"every example needs >= 1 {side} model: use balanced keep masks")
    return logsumexp(np.where(mask, log_p, -np.inf), axis=0) - np.log(count)


def log_reference_probability(ref_log_p, keep, online: bool, a: float) -> np.ndarray:
    """log p(x), (n,): online (p_IN + p_OUT) / 2; offline ((1 + a) p_OUT + (1 - a)) / 2."""
    r = _views(ref_log_p, "reference log-probabilities", 2)
    k = _as_keep(keep)
    if k.shape != r.shape:
        raise ValueError(f"keep {k.shape} must match the reference models x examples {r.shape}")
    out = _log_mean(r, ~k, "OUT")
    if online:
        return np.logaddexp(_log_mean(r, k, "IN"), out) - np.log(2.0)
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"a must be in [0, 1] (p_IN ~ a p_OUT + 1 - a); got {a!r}")
    with np.errstate(divide="ignore"):  # a = 1: the constant term is log 0 = -inf, which logaddexp handles
        return np.logaddexp(np.log1p(a) + out, np.log1p(-a)) - np.log(2.0)


TIE_TOLERANCE = 1e-12  # in log likelihood ratio


def rmia_scores(target_x, ref_x, keep_x, target_z, ref_z, keep_z, *, online: bool, gamma: float = 1.0,
                a: float = 0.3, self_z=None) -> np.ndarray:
    """RMIA scores, (n_x,) in [0, 1]: the fraction of z with LR(x, z) >= gamma.

    target_x ``(n_x[, n_views])`` log p(x|theta); ref_x ``(n_models, n_x[, n_views])`` log p(x|theta')
    of the reference models; keep_x ``(n_models, n_x)``; the same for z. ``self_z`` (optional,
    ``(n_x,)`` int): the z index that is the same sample as x, or -1; that z is left out of x's
    comparison (so its denominator is n_z - 1)."""
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0 (a likelihood-ratio threshold); got {gamma!r}")
    log_rx = _views(target_x, "target_x", 1) - log_reference_probability(ref_x, keep_x, online, a)
    log_rz = _views(target_z, "target_z", 1) - log_reference_probability(ref_z, keep_z, online, a)
    if log_rx.shape[0] != np.shape(ref_x)[1] or log_rz.shape[0] != np.shape(ref_z)[1]:
        raise ValueError(f"target and reference arrays disagree on the number of samples: x {log_rx.shape[0]} vs "
                         f"{np.shape(ref_x)[1]}, z {log_rz.shape[0]} vs {np.shape(ref_z)[1]}")
    n_z = log_rz.shape[0]
    if n_z < 1:
        raise ValueError("RMIA needs at least one z sample (population data)")
    # LR(x, z) >= gamma  <=>  log r_z <= log r_x - log gamma: count by binary search, not an n_x x n_z matrix.
    # Equal ratios reached by different float paths (log p - logsumexp) differ by rounding, ~1e-16:
    # they are ties, which count, so the bound has a tolerance far below any real difference.
    bound = log_rx - np.log(gamma) + TIE_TOLERANCE
    count = np.searchsorted(np.sort(log_rz), bound, side="right").astype(np.float64)
    denom = np.full(log_rx.shape, float(n_z))
    if self_z is not None:
        idx = np.asarray(self_z, dtype=int).reshape(-1)
        if idx.shape != log_rx.shape or np.any((idx < -1) | (idx >= n_z)):
            raise ValueError(f"self_z must be (n_x,) = {log_rx.shape} ints in [-1, {n_z}); got {np.shape(self_z)}")
        has = idx >= 0
        count[has] -= log_rz[idx[has]] <= bound[has]
        denom[has] -= 1
        if np.any(denom < 1):
            raise ValueError("a challenge row's only z sample is itself: give more z samples")
    return count / denom
