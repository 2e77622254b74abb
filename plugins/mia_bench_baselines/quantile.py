"""Quantile-regression membership inference (Bertran et al., NeurIPS 2023, "Scalable
membership inference attacks via quantile regression"): no shadow models.

On the attacker's known non-member pairs (the population), fit a regressor with the
pinball loss that predicts, from a pair's features, the (1 - alpha) quantile q(x) of its
score s(x) among non-members like it. A pair is called a member when s(x) > q(x), which
flags about a fraction alpha of non-members (the attack's FPR is set by construction,
per pair difficulty, not by one global threshold); the continuous score is the margin
s(x) - q(x), so ROC curves are meaningful.

Choices where the paper is silent for contrastive models (all options, recorded in
every result):

- score s: CSA's cosine of the pair's media and caption embeddings;
- features x: the target's media and caption embeddings, concatenated
  (``features=image+text``; also ``image`` or ``text`` alone), optionally PCA-reduced
  (``pca=k``, fitted on the reference pairs);
- regressor: scikit-learn's ``HistGradientBoostingRegressor(loss="quantile")``, a kept,
  deterministic gradient-boosting model that fits hundreds of pairs in about a second
  (the paper's own regressors are larger networks on raw inputs, for ImageNet-scale
  reference sets);
- alpha = 0.05 by default: the reference set here is about 800 pairs, so the 95% quantile
  has ~40 reference pairs above it to learn from; at alpha = 0.01 it would have ~8;
- calibration (ours): a boosted quantile fitted on a few hundred pairs is optimistic (on
  null data its held-out exceedance is about twice alpha), so by default the predicted
  quantile is shifted by the conformal correction of Romano et al. (2019, conformalized
  quantile regression): the ceil((n + 1)(1 - alpha)) / n empirical quantile of the
  reference pairs' residuals s - q(x) under k-fold cross-fitting over reference identities.
  That makes the hard decision's FPR on unseen non-members about alpha, as the paper
  intends; ``calibration=none`` is the bare regressor;
- boosting runs on one OpenMP thread: on hundreds of rows threads cost more than they
  save, and on a shared CPU many threads made one fit 30x slower.

The attack cannot see labels, so its realised TPR/FPR on the challenge come from the
runner (``recall`` at the attack's decisions; FPR from the saved decisions and labels).
What it reports itself in ``info`` is the label-free check the paper's guarantee rests
on: the exceedance rate of held-out reference pairs (k-fold over reference identities)
before and after calibration, which should be close to alpha.

Pair level only: at identity level the known non-member units are the population
identities (100 by default), too few to learn a conditional 95% quantile (5 above it).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from mia_bench.attack import Attack, AttackContext, AttackOutput
from mia_bench.data import AuxiliaryData, Challenge, Samples
from mia_bench.errors import InvalidOptionsError

from .reference import check_reference, pair_embeddings, reference_pairs

FEATURES = ("image+text", "image", "text")
CALIBRATIONS = ("conformal", "none")
MIN_REFERENCE = 20


class QuantileOptions(BaseModel):
    alpha: float = Field(0.05, gt=0.0, lt=0.5, description="target FPR: the regressor predicts the (1 - alpha) "
                                                            "quantile of non-members' cosine")
    features: str = Field("image+text", description=f"regressor input: {', '.join(FEATURES)} (target embeddings)")
    pca: int = Field(0, ge=0, description="PCA components of the features, fitted on the reference (0: none)")
    reference: str = Field("population", description="known non-members: population, or population+background")
    max_iter: int = Field(200, ge=1, description="boosting iterations")
    learning_rate: float = Field(0.05, gt=0.0, le=1.0, description="boosting learning rate")
    max_leaf_nodes: int = Field(15, ge=2, description="leaves per tree")
    min_samples_leaf: int = Field(20, ge=1, description="reference pairs per leaf at least")
    calibration: str = Field("conformal", description="conformal: shift the quantile by the held-out residuals' "
                                                      "conformal quantile (needs cv_folds >= 2); none: bare regressor")
    cv_folds: int = Field(5, ge=0, description="folds over reference identities for calibration and the held-out "
                                               "exceedance check (0: neither)")


class QuantileMIA(Attack):
    name = "quantile-mia"
    version = "1"
    description = ("Quantile regression on known non-members (Bertran et al. 2023): cosine minus its predicted "
                   "(1 - alpha) quantile; no shadow models.")
    units = ("pair",)
    inputs = frozenset({"text", "media"})
    requires = frozenset({"text", "media"})
    Options = QuantileOptions

    def check(self) -> None:
        o = self.options
        if o.features not in FEATURES:
            raise InvalidOptionsError(f"{self.name}: features={o.features!r} is not valid; valid: "
                                      f"{', '.join(FEATURES)}")
        if o.calibration not in CALIBRATIONS:
            raise InvalidOptionsError(f"{self.name}: calibration={o.calibration!r} is not valid; valid: "
                                      f"{', '.join(CALIBRATIONS)}")
        if o.calibration == "conformal" and o.cv_folds < 2:
            raise InvalidOptionsError(f"{self.name}: calibration=conformal needs cv_folds >= 2 (got {o.cv_folds}); "
                                      "set cv_folds=5 or calibration=none")

    def check_auxiliary(self, auxiliary: AuxiliaryData) -> None:
        check_reference(self.name, self.options.reference, auxiliary, MIN_REFERENCE)

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        o = self.options
        self.check()
        self.check_auxiliary(context.auxiliary)  # also when called outside the runner
        ref = reference_pairs(context.auxiliary, o.reference)
        ref_x, ref_s = self._features(target, ref, context.modality)
        x, s = self._features(target, challenge.samples, context.modality)
        seed = int(context.rng.integers(2**31 - 1))
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="openmp"):
            model = fit_quantile(ref_x, ref_s, o, seed)
            info = self._calibrate(ref_x, ref_s, _groups(ref), seed)
            quantile = model.predict(x) + info["calibration_shift"]
            info["reference_fpr_in_sample"] = float(np.mean(ref_s > model.predict(ref_x) + info["calibration_shift"]))
        margin = s - quantile
        info.update({"alpha": o.alpha, "quantile": 1 - o.alpha, "n_reference": len(ref),
                     "challenge_flagged_fraction": float(np.mean(margin > 0)),
                     "regressor": "sklearn HistGradientBoostingRegressor(loss='quantile')"})
        return AttackOutput(scores=margin, decisions=margin > 0,
                            features={"cosine": s, "predicted_quantile": quantile}, info=info)

    def _calibrate(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int) -> dict:
        o = self.options
        if o.cv_folds < 2:
            return {"calibration_shift": 0.0}
        resid = held_out_residuals(x, y, groups, o, seed)
        shift = conformal_shift(resid, o.alpha) if o.calibration == "conformal" else 0.0
        return {"calibration_shift": shift, "reference_fpr_held_out_uncalibrated": float(np.mean(resid > 0)),
                "reference_fpr_held_out": float(np.mean(resid > shift)),
                "reference_held_out_folds": min(o.cv_folds, len(np.unique(groups)))}

    def _features(self, target, samples: Samples, modality: str) -> tuple[np.ndarray, np.ndarray]:
        media, text, cos = pair_embeddings(target, samples, modality)
        parts = {"image+text": (media, text), "image": (media,), "text": (text,)}[self.options.features]
        return np.concatenate(parts, axis=1).astype(np.float64), cos


def fit_quantile(x: np.ndarray, y: np.ndarray, o: QuantileOptions, seed: int):
    """The (1 - alpha) conditional-quantile regressor (a sklearn pipeline: optional PCA, then boosting)."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import make_pipeline

    steps = [PCA(n_components=min(o.pca, *x.shape), random_state=seed)] if o.pca else []
    steps.append(HistGradientBoostingRegressor(
        loss="quantile", quantile=1 - o.alpha, max_iter=o.max_iter, learning_rate=o.learning_rate,
        max_leaf_nodes=o.max_leaf_nodes, min_samples_leaf=o.min_samples_leaf, early_stopping=False,
        random_state=seed))
    return make_pipeline(*steps).fit(x, y)


def held_out_residuals(x: np.ndarray, y: np.ndarray, groups: np.ndarray, o: QuantileOptions, seed: int) -> np.ndarray:
    """``s - q(x)`` of each reference pair under a quantile fitted without its identity
    (k-fold over identities): positive = flagged, so their mean estimates the FPR on
    unseen non-members without any label."""
    from sklearn.model_selection import GroupKFold

    folds = min(o.cv_folds, len(np.unique(groups)))
    resid = np.zeros(len(y))
    for train, test in GroupKFold(folds).split(x, y, groups):
        resid[test] = y[test] - fit_quantile(x[train], y[train], o, seed).predict(x[test])
    return resid


def conformal_shift(residuals: np.ndarray, alpha: float) -> float:
    """The split-conformal correction: the ceil((n + 1)(1 - alpha))-th smallest residual, so
    that an exchangeable new non-member exceeds the shifted quantile with probability <= alpha."""
    n = len(residuals)
    rank = int(np.ceil((n + 1) * (1 - alpha)))
    return float(np.sort(residuals)[min(rank, n) - 1])


def _groups(samples: Samples) -> np.ndarray:
    """One group per identity; a non-PII pair is its own group."""
    return np.array([ident if ident is not None else f"row:{rid}"
                     for ident, rid in zip(samples.identities, samples.ids)])
