"""Statistics over the seeds of a run: one leaderboard row per (attack, target, dataset,
unit, defense).

Each run seed is a repeated experiment: it draws its own split and trains its own target,
null target, shadow models and attack classifiers. A row therefore reports

- **AUC**: the mean of the per-seed AUCs, with a 95% percentile interval from a
  *two-level* bootstrap: resample the seeds (with replacement), then, within each drawn
  seed, members and non-members separately, whole identity groups at a time (the cluster
  bootstrap of :mod:`mia_bench.metrics`); a seed drawn twice gets two independent inner
  resamples. The across-seed SD and the per-seed values come with it.
- **TPR at 1% and 0.1% FPR** on the *pooled* scores of all seeds, one threshold over all
  of them, as LiRA (Carlini et al. 2022) and MICO pool target models: one seed has too
  few non-members to resolve 0.1%. Reported with the threshold, the realised FPR, the
  counts k/n, the two-level bootstrap interval and an exact Clopper-Pearson interval on
  k/n. The exact interval holds the threshold fixed and treats rows as independent; the
  bootstrap one re-chooses the threshold and respects seeds and identities.
- **Accuracy (balanced), precision, recall** of hard decisions pooled the same way: the
  attack's own decisions where it makes them, else each seed's best-balanced-accuracy
  threshold (chosen in-sample, hence optimistic; ``decision_source`` says which).

The bootstrap stream depends only on the seeds of the run, so rows built on the same
rows (an attack, its null control, the blind baseline: one challenge per seed) draw the
very same resamples and their differences (margins) get a paired interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .tracks import Row

DEV_SEED_START = 100  # seeds >= this choose defaults and run ablations; leaderboards report 0, 1, 2, ...


def is_dev_seed(seed: int) -> bool:
    return seed >= DEV_SEED_START


def seed_options(seeds) -> str:
    """The ``--seed`` options that rerun these seeds, for a report's regenerate line."""
    return "".join(f" --seed {s}" for s in seeds)


@dataclass(frozen=True)
class SeedScores:
    """One seed of a row: ``scores`` (N,) float64 higher = member, ``labels`` (N,) bool,
    ``groups`` (N,) str identity of each row (rows of a group are resampled together),
    ``decisions`` (N,) bool hard calls, ``ids`` (N,) str row ids (used to pair rows)."""

    seed: int
    scores: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    decisions: np.ndarray
    ids: np.ndarray


@dataclass(frozen=True)
class PooledRate:
    """TPR at FPR <= ``fpr_target`` on the pooled scores of all seeds."""

    fpr_target: float
    tpr: float
    realised_fpr: float
    threshold: float | None  # member iff score >= threshold; None: no threshold reaches it (k = 0)
    k: int  # members at or above the threshold
    n: int  # members
    fp: int  # non-members at or above the threshold
    n_neg: int
    ci_bootstrap: tuple
    ci_exact: tuple  # Clopper-Pearson on k/n


@dataclass
class Aggregate:
    seeds: tuple[int, ...]
    auc_mean: float
    auc_ci: tuple
    auc_sd: float | None
    auc_per_seed: dict[int, float]
    tpr_1: PooledRate | None
    tpr_01: PooledRate | None
    balanced_accuracy: float
    balanced_accuracy_ci: tuple
    precision: float | None
    precision_ci: tuple
    recall: float
    recall_ci: tuple
    recall_exact_ci: tuple
    replicates: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # for paired margins


# --- exact binomial interval ---------------------------------------------------------
def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval for a binomial proportion k/n."""
    from scipy.special import betaincinv

    if not 0 <= k <= n or n <= 0:
        raise ValueError(f"clopper_pearson needs 0 <= k <= n and n > 0, got k={k}, n={n}")
    alpha = 1 - confidence
    lo = 0.0 if k == 0 else float(betaincinv(k, n - k + 1, alpha / 2))
    hi = 1.0 if k == n else float(betaincinv(k + 1, n - k, 1 - alpha / 2))
    return lo, hi


# --- resampling ----------------------------------------------------------------------
def seed_draws(n_seeds: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_seeds) how many times each seed is drawn in each replicate."""
    return rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=n_boot)


def _group_index(groups: np.ndarray, rows: np.ndarray) -> tuple[int, np.ndarray]:
    uniq, inverse = np.unique(groups[rows], return_inverse=True)
    return uniq.size, inverse


def _inner_weights(seed: SeedScores, cls: bool, copies: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(len(copies), rows of class ``cls``) multiplicities: ``copies[b]`` independent cluster
    resamples of the class summed (a multinomial of copies[b] * groups draws over its groups)."""
    rows = np.nonzero(seed.labels == cls)[0]
    n_groups, inverse = _group_index(seed.groups, rows)
    return uniform_counts(copies * n_groups, n_groups, rng)[:, inverse].astype(float)


def uniform_counts(n_draws: np.ndarray, n_cats: int, rng: np.random.Generator) -> np.ndarray:
    """(len(n_draws), n_cats) counts of ``n_draws[b]`` uniform draws from ``n_cats`` categories:
    a uniform multinomial, by bincount (numpy's multinomial loops over categories: far slower)."""
    n_rows, most = n_draws.size, int(n_draws.max(initial=0))
    picks = rng.integers(0, n_cats, (n_rows, most)) + n_cats * np.arange(n_rows)[:, None]
    valid = np.arange(most)[None, :] < n_draws[:, None]
    return np.bincount(picks[valid], minlength=n_rows * n_cats).reshape(n_rows, n_cats)


def two_level_auc(seeds: list[SeedScores], draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n_boot,) replicate means of AUC: each drawn copy of a seed is its own inner resample."""
    from .metrics import weighted_aucs

    n_boot, n_seeds = draws.shape
    total = np.zeros(n_boot)
    for j, sd in enumerate(seeds):
        ones = np.ones(n_boot * n_seeds, dtype=int)  # up to n_seeds copies per replicate
        w_pos, w_neg = _inner_weights(sd, True, ones, rng), _inner_weights(sd, False, ones, rng)
        aucs = weighted_aucs(sd.scores[sd.labels], sd.scores[~sd.labels], w_pos, w_neg).reshape(n_boot, n_seeds)
        used = np.arange(n_seeds)[None, :] < draws[:, j : j + 1]
        total += (aucs * used).sum(1)
    return total / n_seeds


def pooled_weights(seeds: list[SeedScores], draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, total rows) multiplicities of the pooled rows of all seeds in each replicate."""
    blocks = []
    for j, sd in enumerate(seeds):
        w = np.zeros((draws.shape[0], sd.labels.size))
        for cls in (True, False):
            w[:, sd.labels == cls] = _inner_weights(sd, cls, draws[:, j], rng)
        blocks.append(w)
    return np.concatenate(blocks, axis=1)


# --- pooled statistics ---------------------------------------------------------------
def _sorted_runs(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-scores, kind="mergesort")
    s = scores[order]
    return order, np.r_[np.nonzero(np.diff(s))[0], s.size - 1]


def weighted_roc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_boot, thresholds + 1) FPR and TPR under each row of ``weights``; column 0 is (0, 0)."""
    order, last = _sorted_runs(scores)
    y, w = labels[order], weights[:, order]
    tp = np.cumsum(w * y, axis=1)[:, last]
    fp = np.cumsum(w * ~y, axis=1)[:, last]
    zero = np.zeros((w.shape[0], 1))
    return np.hstack([zero, fp / fp[:, -1:]]), np.hstack([zero, tp / tp[:, -1:]])


def pooled_rate(scores: np.ndarray, labels: np.ndarray, fpr: float, boot_roc: tuple[np.ndarray, np.ndarray],
                confidence: float = 0.95) -> PooledRate | None:
    """TPR at FPR <= ``fpr`` of the pooled rows; None with fewer than 1/fpr non-members.
    ``boot_roc``: :func:`weighted_roc` of the replicates."""
    from .metrics import _percentiles, roc_curve

    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_neg < 1.0 / fpr - 1e-9:
        return None
    f, t, thr = roc_curve(scores, labels)
    i = int(np.nonzero(f <= fpr + 1e-12)[0].max())  # TPR rises with the index: the last point is the best
    k, fp = int(round(t[i] * n_pos)), int(round(f[i] * n_neg))
    bf, bt = boot_roc
    boot = np.where(bf <= fpr + 1e-12, bt, 0.0).max(1)
    return PooledRate(fpr, float(t[i]), float(f[i]), None if np.isinf(thr[i]) else float(thr[i]), k, n_pos, fp,
                      n_neg, _percentiles(boot, confidence), clopper_pearson(k, n_pos, confidence))


def _decision_rates(d: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """Balanced accuracy, precision, recall under each row of multiplicities ``w``."""
    tp, fp = (w * (d & y)).sum(-1), (w * (d & ~y)).sum(-1)
    pos, neg = (w * y).sum(-1), (w * ~y).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
    return {"balanced_accuracy": (tp / pos + 1 - fp / neg) / 2, "precision": precision, "recall": tp / pos}


def _ci(values: np.ndarray, confidence: float) -> tuple:
    from .metrics import _percentiles

    values = values[np.isfinite(values)]
    return _percentiles(values, confidence) if values.size else (None, None)


def aggregate_seeds(seeds: list[SeedScores], n_boot: int = 1000, confidence: float = 0.95) -> Aggregate:
    """Every statistic of one row over its seeds (see the module docstring)."""
    from .metrics import auc

    if not seeds:
        raise ValueError("aggregate_seeds needs at least one seed")
    seeds = sorted(seeds, key=lambda sd: sd.seed)
    rng = np.random.default_rng([0x5EED, *[sd.seed for sd in seeds]])  # the run's seeds only: rows pair up
    draws = seed_draws(len(seeds), n_boot, rng)
    auc_reps = two_level_auc(seeds, draws, rng)
    weights = pooled_weights(seeds, draws, rng)
    s = np.concatenate([sd.scores for sd in seeds])
    y = np.concatenate([sd.labels for sd in seeds])
    d = np.concatenate([sd.decisions for sd in seeds])
    boot_roc = weighted_roc(s, y, weights)
    per_seed = {sd.seed: auc(sd.scores, sd.labels) for sd in seeds}
    values = np.array(list(per_seed.values()))
    point = {k: float(v) for k, v in _decision_rates(d, y, np.ones(y.size)).items()}
    boot = _decision_rates(d, y, weights)
    tp = int((d & y).sum())
    return Aggregate(
        seeds=tuple(per_seed),
        auc_mean=float(values.mean()),
        auc_ci=_ci(auc_reps, confidence),
        auc_sd=float(values.std(ddof=1)) if values.size > 1 else None,
        auc_per_seed=per_seed,
        tpr_1=pooled_rate(s, y, 0.01, boot_roc, confidence),
        tpr_01=pooled_rate(s, y, 0.001, boot_roc, confidence),
        balanced_accuracy=point["balanced_accuracy"],
        balanced_accuracy_ci=_ci(boot["balanced_accuracy"], confidence),
        precision=None if np.isnan(point["precision"]) else point["precision"],
        precision_ci=_ci(boot["precision"], confidence),
        recall=point["recall"],
        recall_ci=_ci(boot["recall"], confidence),
        recall_exact_ci=clopper_pearson(tp, int(y.sum()), confidence),
        replicates={"auc": auc_reps},
    )


def paired(a: list[SeedScores], b: list[SeedScores]) -> bool:
    """Whether two rows were scored on the same rows of the same seeds (so their bootstrap
    replicates resampled the same rows and their difference has a paired interval)."""
    return [x.seed for x in a] == [x.seed for x in b] and all(
        x.ids.shape == y.ids.shape and np.array_equal(x.ids, y.ids) and np.array_equal(x.groups, y.groups)
        and np.array_equal(x.labels, y.labels) for x, y in zip(a, b))


# --- the aggregated leaderboard row ----------------------------------------------------
@dataclass
class AggRow(Row):
    """A leaderboard row over all seeds of a run. The :class:`Row` fields keep their meaning
    with aggregated values (``auc``/``auc_ci``: seed mean and two-level CI; ``tpr_1``,
    ``tpr_01``: pooled; ``accuracy``: pooled balanced accuracy of the decisions; ``seed``:
    the first seed), so any renderer of rows renders these."""

    dataset: str = ""
    unit: str = ""
    seeds: list[int] = field(default_factory=list)
    auc_sd: float | None = None
    auc_per_seed: dict[str, float] = field(default_factory=dict)
    tpr_1_pooled: dict | None = None  # PooledRate fields
    tpr_01_pooled: dict | None = None
    accuracy_ci: tuple | None = None
    precision: float | None = None
    precision_ci: tuple | None = None
    recall: float | None = None
    recall_ci: tuple | None = None
    recall_exact_ci: tuple | None = None
    decision_source: str = ""
    margin_blind: float | None = None  # AUC minus the best model-free row's (same dataset, unit, defense)
    margin_blind_ci: tuple | None = None
    blind_attack: str | None = None
    margin_null: float | None = None  # AUC minus the same attack's on the null target
    margin_null_ci: tuple | None = None
    flags: list[str] = field(default_factory=list)
    seed_errors: dict[str, str] = field(default_factory=dict)
    per_seed: list[dict] = field(default_factory=list)  # the per-seed Row of each seed


FLAG_OFF_CHANCE = "control off chance"
FLAG_INVERTED = "inverted"
FLAG_DEV_SEEDS = "dev seeds"


def row_flags(row: AggRow) -> list[str]:
    """A control (null target or model-free) whose CI excludes 0.5 fails its purpose; an attack
    whose CI lies wholly below 0.5 carries a signal in the wrong direction."""
    flags = []
    lo, hi = row.auc_ci or (None, None)
    if lo is not None and hi is not None:
        if (row.control or row.model_free) and (lo > 0.5 or hi < 0.5):
            flags.append(FLAG_OFF_CHANCE)
        elif not (row.control or row.model_free) and hi < 0.5:
            flags.append(FLAG_INVERTED)
    if any(is_dev_seed(s) for s in row.seeds):
        flags.append(FLAG_DEV_SEEDS)
    return flags
