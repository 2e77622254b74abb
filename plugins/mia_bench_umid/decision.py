"""Anomaly-detector ensemble fitted on the non-member reference only: anomalous = member.

Two decisions are reported:
- ``plain`` (the paper): a detector's anomaly score, whichever direction the query
  deviates in; continuous score = mean over detectors of the rank of the query's score
  among the reference's scores; hard call = majority vote of the detectors' own flags.
- ``oriented`` (default): members deviate in one direction (Theorem 3.1: higher S,
  lower D), so only deviations on the member side count: continuous score = mean of
  signed z-scores against the reference (S up, D down); hard call = majority vote of the
  detectors, gated by a positive oriented score.
"""

from __future__ import annotations

import numpy as np

from mia_bench.rng import preserve_global_rng

DETECTORS = ("iforest", "lof", "ocsvm", "ecod", "copod", "knn")
ORIENTATION = {"S": 1.0, "D": -1.0, "S_max": 1.0, "S_gain": 1.0, "S_early": 1.0}


def make_detector(name: str, seed: int):
    if name == "iforest":
        from pyod.models.iforest import IForest

        return IForest(contamination=0.1, random_state=seed)
    if name == "lof":
        from pyod.models.lof import LOF

        return LOF(contamination=0.1, novelty=True) if "novelty" in LOF.__init__.__code__.co_varnames else LOF(contamination=0.1)
    if name == "ocsvm":
        from pyod.models.ocsvm import OCSVM

        return OCSVM(gamma="auto", contamination=0.1)
    if name == "ecod":
        from pyod.models.ecod import ECOD

        return ECOD(contamination=0.1)
    if name == "copod":
        from pyod.models.copod import COPOD

        return COPOD(contamination=0.1)
    if name == "knn":
        from pyod.models.knn import KNN

        return KNN(contamination=0.1)
    raise ValueError(f"unknown detector {name!r}; valid: {', '.join(DETECTORS)}")


def decide(ref: dict[str, np.ndarray], query: dict[str, np.ndarray], features: list[str],
           detectors: list[str], mode: str, seed: int) -> dict[str, np.ndarray]:
    """Fit detectors on the reference features, score the queries. Returns scores, votes, parts."""
    X_ref = np.stack([ref[f] for f in features], 1)
    X = np.stack([query[f] for f in features], 1)
    mu, sd = X_ref.mean(0), X_ref.std(0) + 1e-12
    z_ref, z = (X_ref - mu) / sd, (X - mu) / sd
    sign = np.array([ORIENTATION.get(f, 1.0) for f in features])
    oriented = (z * sign).mean(1)
    ranks, flags = [], []
    for name in detectors:
        with preserve_global_rng():
            det = make_detector(name, seed).fit(z_ref)
        ref_scores = np.sort(det.decision_function(z_ref))
        ranks.append(np.searchsorted(ref_scores, det.decision_function(z), side="right") / len(ref_scores))
        flags.append(det.predict(z).astype(bool))
    plain = np.mean(ranks, 0)
    votes = np.mean(flags, 0) > 0.5
    if mode == "oriented":
        return {"score": oriented, "decision": votes & (oriented > 0), "plain": plain, "oriented": oriented}
    if mode == "plain":
        return {"score": plain, "decision": votes, "plain": plain, "oriented": oriented}
    raise ValueError(f"unknown decision mode {mode!r}; valid: oriented, plain")
