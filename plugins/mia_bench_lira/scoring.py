"""LiRA scoring core (Carlini et al., "Membership Inference Attacks From First Principles",
S&P 2022): numpy/scipy only, no torch. Every score is oriented higher = more likely member.

Shapes: target_stats (n_examples, n_aug); shadow_stats (n_models, n_examples, n_aug);
keep (n_models, n_examples) bool, keep[m, j] = example j was in model m's training set.
A 1-D target / 2-D shadow array is read as n_aug = 1. Statistics must be oriented higher =
more member-like (logit confidence, atanh cosine; pass -loss for a loss).

Choices, recorded here because the paper text and its released code differ:
- Augmentations: one Gaussian per (example, augmentation); the per-augmentation log-likelihood
  ratios are averaged (released code: `score.mean(1)`; METHODS.md "averaged over augmented
  queries"). The mean ranks like the sum, i.e. like a diagonal multivariate Gaussian LLR.
- Location: the IN/OUT mean (Gaussian MLE) by default; center="median" follows the code.
- Spread: population std (ddof=0, as np.std in the code). fix_variance=True pools the
  *within-example* squared deviations over all examples and augmentations: one std for IN and
  one for OUT. The code instead took np.std over the whole array (which adds between-example
  spread) and, a slip, used the IN std for OUT too; neither is reproduced.
- An (example, aug) group fitted from a single model has no variance estimate: it takes the
  pooled one (the code would give std 0). Every std is then floored at min_std (default 1e-6;
  the code added 1e-30): identical values give large but finite scores, never inf/NaN.
- Offline is the paper's one-sided test, Lambda = Pr[Z < x], Z ~ N(mu_out, s_out), reported
  as -log Pr[Z > x] = -logsf(z) (per augmentation the same ranking as Lambda, but it does not
  saturate at 1 in the far tail), averaged over augmentations. The code's offline score
  (negative OUT log-density) is two-sided: an unusually *low* statistic also counts as member.
- An example with no IN (online) or no OUT (online and offline) shadow model raises
  ValueError naming it: no silent NaN.
- The code truncates every example to the smallest IN/OUT count; we use all models.
"""

from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np
from scipy.special import log_ndtr

_LOG_2PI = float(np.log(2.0 * np.pi))


# ---- statistics ---------------------------------------------------------------------------

def logit_confidence(p, eps: float = 1e-12) -> np.ndarray:
    """phi(p) = log(p / (1 - p)), p clipped to [eps, 1 - eps]; any shape in, same shape out.

    From probabilities that already saturated at 1.0 the clip is all one can do; where logits
    exist prefer `logit_from_logits`, which never forms p."""
    p = np.asarray(p, dtype=np.float64)
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must be in (0, 0.5), got {eps!r}")
    if not np.all((p >= 0.0) & (p <= 1.0)):  # also rejects NaN
        raise ValueError(f"p must hold probabilities in [0, 1]; got values in [{np.nanmin(p)}, {np.nanmax(p)}]"
                         f"{' and NaN' if np.isnan(p).any() else ''}")
    p = np.clip(p, eps, 1.0 - eps)
    return np.log(p) - np.log1p(-p)


def logit_from_logits(logits, target_index) -> np.ndarray:
    """Stable phi of softmax(logits)[target]: z_y - logsumexp(z without y), as the paper's code.

    logits (..., n_classes) (for a contrastive model: similarities of one image to a fixed set
    of candidate texts, times the logit scale); target_index int array of shape logits.shape[:-1]."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(target_index)
    if z.ndim < 1 or z.shape[-1] < 2:
        raise ValueError(f"logits need a last axis of >= 2 classes; got shape {z.shape}")
    if y.shape != z.shape[:-1] or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"target_index must be integers of shape {z.shape[:-1]}; got {y.dtype} {y.shape}")
    if np.any((y < 0) | (y >= z.shape[-1])):
        raise ValueError(f"target_index must be in [0, {z.shape[-1]}); got range [{y.min()}, {y.max()}]")
    zy = np.take_along_axis(z, y[..., None], -1)[..., 0]
    rest = z.copy()
    np.put_along_axis(rest, y[..., None], -np.inf, -1)
    m = rest.max(-1)
    return zy - (m + np.log(np.exp(rest - m[..., None]).sum(-1)))


def atanh_cosine(cos, eps: float = 1e-6) -> np.ndarray:
    """Fisher z-transform atanh(cos), cos clipped to [-1 + eps, 1 - eps]: makes a cosine close
    to Gaussian (a cosine itself is bounded and skewed near 1). Any shape in, same shape out."""
    c = np.asarray(cos, dtype=np.float64)
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    if not np.all(np.abs(c) <= 1.0 + 1e-6):  # float round-off can exceed 1 slightly; NaN fails
        raise ValueError(f"cos must be in [-1, 1]; got values in [{np.nanmin(c)}, {np.nanmax(c)}]")
    return np.arctanh(np.clip(c, -1.0 + eps, 1.0 - eps))


# ---- keep masks ---------------------------------------------------------------------------

def _fill(rng: np.random.Generator, n_rows: int, n_in: np.ndarray) -> np.ndarray:
    # A uniformly random permutation per column; its first n_in[j] slots are IN.
    order = rng.random((n_rows, n_in.shape[0])).argsort(0)
    return order < n_in[None, :]


def balanced_keep_masks(n_models: int, n_examples: int, seed: int) -> np.ndarray:
    """(n_models, n_examples) bool; each column has exactly n_models/2 True, at random."""
    if not isinstance(n_models, (int, np.integer)) or n_models < 2 or n_models % 2:
        raise ValueError(f"n_models must be an even integer >= 2 (each example IN for exactly half); "
                         f"got {n_models!r}")
    if not isinstance(n_examples, (int, np.integer)) or n_examples < 1:
        raise ValueError(f"n_examples must be an integer >= 1; got {n_examples!r}")
    if not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer (masks must be reproducible); got {seed!r}")
    return _fill(np.random.default_rng(seed), n_models, np.full(n_examples, n_models // 2))


def grow_keep_masks(existing, n_new: int, seed: int) -> np.ndarray:
    """Append n_new rows to existing (n_old, n_examples) so every column ends with exactly
    (n_old + n_new)/2 IN; returns (n_old + n_new, n_examples), existing rows unchanged.

    The new rows' stream is seeded by (seed, a hash of existing, n_new): deterministic, and
    never a copy of the rows `balanced_keep_masks(n, ., seed)` gave (duplicate models)."""
    old = _as_keep(existing, "existing")
    if not isinstance(n_new, (int, np.integer)) or n_new < 2 or n_new % 2:
        raise ValueError(f"n_new must be an even integer >= 2 (keeps each column balanced); got {n_new!r}")
    if not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer; got {seed!r}")
    total = old.shape[0] + n_new
    need = total // 2 - old.sum(0)
    if total % 2 or np.any((need < 0) | (need > n_new)):
        bad = np.flatnonzero((need < 0) | (need > n_new))[:5]
        raise ValueError(f"existing columns cannot be balanced with {n_new} new rows (need total/2 = {total // 2} IN "
                         f"per column; e.g. columns {bad.tolist()} have {old.sum(0)[bad].tolist()} IN "
                         f"of {old.shape[0]})")
    digest = hashlib.sha256(np.packbits(old).tobytes() + repr(old.shape).encode()).digest()
    ss = np.random.SeedSequence([int(seed), int(n_new), *np.frombuffer(digest, dtype=np.uint32).tolist()])
    return np.concatenate([old, _fill(np.random.default_rng(ss), n_new, need)], axis=0)


# ---- validation ---------------------------------------------------------------------------

def _as_keep(keep, name: str = "keep") -> np.ndarray:
    k = np.asarray(keep)
    if k.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_models, n_examples); got shape {k.shape}")
    if k.dtype != bool:
        if not (np.issubdtype(k.dtype, np.integer) and np.isin(k, (0, 1)).all()):
            raise ValueError(f"{name} must be bool (or 0/1 integers); got dtype {k.dtype}")
        k = k.astype(bool)
    return k


def _check(target_stats, shadow_stats, keep):
    t = np.asarray(target_stats, dtype=np.float64)
    s = np.asarray(shadow_stats, dtype=np.float64)
    t = t[:, None] if t.ndim == 1 else t
    s = s[:, :, None] if s.ndim == 2 else s
    if t.ndim != 2 or s.ndim != 3:
        raise ValueError(f"target_stats must be (n_examples, n_aug) and shadow_stats (n_models, n_examples, n_aug); "
                         f"got {np.shape(target_stats)} and {np.shape(shadow_stats)}")
    k = _as_keep(keep)
    if s.shape[1:] != t.shape or k.shape != s.shape[:2]:
        raise ValueError(f"shape mismatch: target_stats {t.shape} must equal shadow_stats[0] {s.shape[1:]}, and keep "
                         f"{k.shape} must equal shadow_stats.shape[:2] {s.shape[:2]}")
    if not (np.isfinite(t).all() and np.isfinite(s).all()):
        raise ValueError("target_stats and shadow_stats must be finite (NaN/inf found); clip before the logit")
    return t, s, k


def _fit(s: np.ndarray, mask: np.ndarray, side: str, fix_variance: bool, center: str, min_std: float):
    """(center, std) per (example, aug) of the shadow statistics selected by mask."""
    count = mask.sum(0)
    if np.any(count == 0):
        bad = np.flatnonzero(count == 0)
        raise ValueError(f"{bad.size} example(s) have no {side} shadow model (e.g. indices {bad[:5].tolist()}); "
                         f"every example needs >= 1 {side} model: build keep with balanced_keep_masks")
    x = np.where(mask[:, :, None], s, np.nan)  # masked-out models drop out of the nan-reductions
    var = np.nanvar(x, axis=0)  # ddof=0, about the per-(example, aug) mean
    pooled = (var * count[:, None]).sum() / (count.sum() * var.shape[1])  # within-example, all examples/augs
    # fix_variance: one number for all; else a 1-model group (variance undefined) borrows it.
    var = np.full_like(var, pooled) if fix_variance else np.where(count[:, None] >= 2, var, pooled)
    loc = np.nanmean(x, axis=0) if center == "mean" else np.nanmedian(x, axis=0)
    return loc, np.maximum(np.sqrt(var), min_std)


def _opts(center: str, min_std: float) -> None:
    if center not in ("mean", "median"):
        raise ValueError(f"center must be 'mean' or 'median'; got {center!r}")
    if not min_std > 0:
        raise ValueError(f"min_std must be > 0; got {min_std!r}")


def _log_normal(x, mu, sd):
    return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd) - 0.5 * _LOG_2PI


# ---- scores -------------------------------------------------------------------------------

def lira_online(target_stats, shadow_stats, keep, fix_variance: bool = False, *,
                center: str = "mean", min_std: float = 1e-6) -> np.ndarray:
    """Online LiRA, (n_examples,): mean over augs of log N(x; mu_in, s_in) - log N(x; mu_out, s_out)."""
    _opts(center, min_std)
    t, s, k = _check(target_stats, shadow_stats, keep)
    mu_in, sd_in = _fit(s, k, "IN", fix_variance, center, min_std)
    mu_out, sd_out = _fit(s, ~k, "OUT", fix_variance, center, min_std)
    return (_log_normal(t, mu_in, sd_in) - _log_normal(t, mu_out, sd_out)).mean(1)


def lira_offline(target_stats, shadow_stats, keep, fix_variance: bool = False, *,
                 center: str = "mean", min_std: float = 1e-6) -> np.ndarray:
    """Offline LiRA, (n_examples,): mean over augs of -log Pr[Z > x], Z ~ N(mu_out, s_out)
    (one-sided: only statistics above the OUT distribution raise the score). IN models unused."""
    _opts(center, min_std)
    t, s, k = _check(target_stats, shadow_stats, keep)
    mu_out, sd_out = _fit(s, ~k, "OUT", fix_variance, center, min_std)
    return (-log_ndtr(-(t - mu_out) / sd_out)).mean(1)  # log_ndtr(-z) = log sf(z), accurate in the tail


def global_threshold_scores(target_stats) -> np.ndarray:
    """Global-threshold baseline (Yeom et al. 2018), (n_examples,): the statistic averaged over
    augmentations, no shadow models; one threshold over it is the attack."""
    t = np.asarray(target_stats, dtype=np.float64)
    t = t[:, None] if t.ndim == 1 else t
    if t.ndim != 2 or t.shape[1] < 1 or not np.isfinite(t).all():
        raise ValueError(f"target_stats must be finite, (n_examples,) or (n_examples, n_aug); "
                         f"got shape {np.shape(target_stats)}")
    return t.mean(1)


def leave_one_out(stats, keep, fn: Callable = lira_online, **kwargs):
    """Each model in turn is the target, the other n_models - 1 its shadows.

    With exactly balanced masks a member then has one IN shadow fewer than a non-member, and
    the per-example variance (ddof=0) moves with the label even without signal;
    ``mia-bench lira-loo`` picks balanced shadow sets instead (:func:`.loo.shadow_sets`).

    stats (n_models, n_examples, n_aug), keep (n_models, n_examples); fn(target_stats,
    shadow_stats, keep, **kwargs) -> (n_examples,) (wrap global_threshold_scores in a lambda).
    Returns (scores, labels), both (n_models * n_examples,), target-major: reshape to
    (n_models, n_examples) for per-target results; labels = keep row of the target.
    n_models * n_examples / 2 non-members make TPR at 0.1% FPR resolvable from few models."""
    s = np.asarray(stats, dtype=np.float64)
    s = s[:, :, None] if s.ndim == 2 else s
    k = _as_keep(keep)
    if s.ndim != 3 or s.shape[:2] != k.shape or s.shape[0] < 3:
        raise ValueError(f"stats must be (n_models >= 3, n_examples, n_aug) matching keep {k.shape}; "
                         f"got {np.shape(stats)}")
    idx = np.arange(s.shape[0])
    scores = [np.asarray(fn(s[i], s[idx != i], k[idx != i], **kwargs), dtype=np.float64) for i in idx]
    if any(x.shape != (s.shape[1],) for x in scores):
        raise ValueError(f"fn must return shape ({s.shape[1]},); got {scores[0].shape}")
    return np.concatenate(scores), k.reshape(-1).copy()
