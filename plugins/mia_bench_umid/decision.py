"""Anomaly-detector ensemble fitted on the non-member reference only: anomalous = member.

Features are standardised on the reference (its mean and standard deviation), every
detector is fitted on the standardised reference alone (never on a query, never on a
label), and two scores come out of the same fitted detectors:

- ``ensemble`` (the paper, Cheng et al. 2026): a detector's outlier score, whichever
  direction the query deviates in (two-sided). The continuous score is the mean over
  detectors of the query's *reference-calibrated* outlier score: the fraction of the
  reference whose own outlier score is at most the query's (an empirical CDF, so every
  detector's score lies in [0, 1] and they can be averaged; the paper gives only the hard
  decision, so this ROC score is our choice). The hard decision is the majority vote of
  the detectors' own flags (each flags the top ``contamination`` = 10% of the reference).
- ``oriented-z`` (ours): members deviate in one direction (Theorem 3.1: higher S, lower
  D), so only deviations on the member side count: the continuous score is the mean of
  signed z-scores against the reference (S up, D down), and the hard decision is the
  detectors' majority vote gated by a positive oriented score.

The reference's outlier scores are in-sample (the detectors were fitted on those rows),
so they read slightly less anomalous than a fresh non-member: this shifts every query's
calibrated score the same way and leaves the ranking, hence the AUC, unchanged.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import numpy as np

from mia_bench.rng import preserve_global_rng

DETECTORS = ("iforest", "lof", "ocsvm", "ecod", "autoencoder", "copod", "knn")
SCORES = ("ensemble", "oriented-z")
PAPER_DETECTORS = ("iforest", "lof", "ocsvm", "ecod", "autoencoder")  # the paper's ensemble
ORIENTED_DETECTORS = ("iforest", "lof", "ocsvm", "ecod")  # what oriented-z was measured with
ORIENTATION = {"S": 1.0, "D": -1.0, "S_max": 1.0, "S_gain": 1.0, "S_early": 1.0}
CONTAMINATION = 0.1  # the predecessors' code; sets each detector's own flag threshold


def make_detector(name: str, seed: int):
    """An unfitted PyOD detector (the predecessors' settings where they had one)."""
    if name == "iforest":
        from pyod.models.iforest import IForest

        return IForest(contamination=CONTAMINATION, random_state=seed)
    if name == "lof":
        from pyod.models.lof import LOF

        if "novelty" in LOF.__init__.__code__.co_varnames:
            return LOF(contamination=CONTAMINATION, novelty=True)
        return LOF(contamination=CONTAMINATION)
    if name == "ocsvm":
        from pyod.models.ocsvm import OCSVM

        return OCSVM(gamma="auto", contamination=CONTAMINATION)
    if name == "ecod":
        from pyod.models.ecod import ECOD

        return ECOD(contamination=CONTAMINATION)
    if name == "autoencoder":
        from pyod.models.auto_encoder import AutoEncoder

        # PyOD's defaults (hidden 64-32, 10 epochs, Adam 1e-3); CPU, so a GPU host gives the same numbers.
        return AutoEncoder(contamination=CONTAMINATION, random_state=seed, device="cpu", verbose=0)
    if name == "copod":
        from pyod.models.copod import COPOD

        return COPOD(contamination=CONTAMINATION)
    if name == "knn":
        from pyod.models.knn import KNN

        return KNN(contamination=CONTAMINATION)
    raise ValueError(f"unknown detector {name!r}; valid: {', '.join(DETECTORS)}")


@contextlib.contextmanager
def _quarantine() -> Iterator[None]:
    """PyOD's torch detectors seed numpy, random and torch globally and set PYTHONHASHSEED:
    undo all of it, so a detector never changes the caller's random streams."""
    import torch

    hash_seed = os.environ.get("PYTHONHASHSEED")
    with preserve_global_rng(), torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            if hash_seed is None:
                os.environ.pop("PYTHONHASHSEED", None)
            else:
                os.environ["PYTHONHASHSEED"] = hash_seed


def standardise(x_ref: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays standardised with the reference's mean and standard deviation."""
    mu, sd = x_ref.mean(0), x_ref.std(0) + 1e-12
    return (x_ref - mu) / sd, (x - mu) / sd


def calibrated(ref_scores: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Fraction of the reference whose outlier score is at most each query's, in [0, 1]."""
    ref = np.sort(ref_scores)
    return np.searchsorted(ref, scores, side="right") / len(ref)


def detector_votes(z_ref: np.ndarray, z: np.ndarray, detectors: list[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit each detector on the standardised reference only; ``(calibrated scores, flags)``,
    each ``(n_detectors, N)``, of the queries."""
    scores, flags = [], []
    for name in detectors:
        with _quarantine():
            det = make_detector(name, seed).fit(z_ref)
            scores.append(calibrated(det.decision_function(z_ref), det.decision_function(z)))
            flags.append(np.asarray(det.predict(z)).astype(bool))
    return np.array(scores), np.array(flags)


def decide(ref: dict[str, np.ndarray], query: dict[str, np.ndarray], features: list[str],
           detectors: list[str], score: str, seed: int) -> dict[str, np.ndarray]:
    """Both scores of the queries from detectors fitted on the reference; ``score`` picks
    which one (and its hard decision) the attack reports. See the module docstring."""
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; valid: {', '.join(SCORES)}")
    z_ref, z = standardise(np.stack([ref[f] for f in features], 1), np.stack([query[f] for f in features], 1))
    sign = np.array([ORIENTATION.get(f, 1.0) for f in features])
    oriented = (z * sign).mean(1)
    calibrated_scores, flags = detector_votes(z_ref, z, detectors, seed)
    ensemble = calibrated_scores.mean(0)
    majority = flags.mean(0) > 0.5  # strict: with an even count, a tie is not a majority
    parts = {"ensemble": ensemble, "oriented_z": oriented, "votes": flags.sum(0)}
    if score == "ensemble":
        return {"score": ensemble, "decision": majority, **parts}
    return {"score": oriented, "decision": majority & (oriented > 0), **parts}
