"""Ko et al.'s weakly supervised attack (ICCV 2023, "Practical membership inference
attacks against large-scale multi-modal models: a pilot study").

1. Known non-members (the attacker's population pairs) set a threshold on CSA's cosine:
   mean + ``std_multiplier`` x std (1.5 in the paper; std with ddof=0, as ``np.std`` in
   the released code).
2. Challenge pairs whose cosine reaches it (``>=``, as in the code) become pseudo-members.
3. An MLP on [media embedding, caption embedding] (concatenated, as in the code) is
   trained on pseudo-members (label 1) vs known non-members (label 0), the two classes
   subsampled to the same size (``balance``, as in the code).
4. The MLP scores the challenge: the logit of its member probability (monotone in the
   probability, without the ties a saturated probability would make at low FPR).

The released code's MLP and training: 512-256-128 ReLU layers, Adam, lr 1e-3, batch 32,
15 epochs, 10% held out for early stopping on its loss with patience 3. Here it is
scikit-learn's ``MLPClassifier`` trained epoch by epoch (``partial_fit``) in that loop.

Where the paper differs from a single challenge set: it trains the attack model on a
pseudo-member pool disjoint from the pairs it evaluates. ``folds`` reproduces that: the
challenge is cut into folds by identity, and each fold is scored by an MLP trained on the
pseudo-members of the other folds (no pair is scored by a model that saw it, even with
its pseudo-label). ``folds=1`` is the transductive reading: train on every pseudo-member,
score everything.

If fewer than ``min_pseudo`` challenge pairs clear the threshold there is no member class
to learn, and the attack raises (naming the threshold and how many pairs cleared it)
rather than fall back to another score.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from mia_bench.attack import Attack, AttackContext, AttackOutput
from mia_bench.data import AuxiliaryData, Challenge
from mia_bench.errors import InvalidOptionsError

from .reference import check_reference, pair_embeddings, reference_pairs

MIN_REFERENCE = 10


THRESHOLDS = ("mean+std", "quantile")


class WSAOptions(BaseModel):
    threshold: Literal["mean+std", "quantile"] = Field(
        "mean+std", description="pseudo-member threshold on known non-members' cosine: mean+std (the paper: mean + "
                                "std_multiplier x std) or quantile (their empirical quantile at Phi(std_multiplier), "
                                "the same point for Gaussian cosines; for spread or skewed ones it stays below 1)")
    std_multiplier: float = Field(1.5, description="pseudo-member threshold: mean + this x std of known "
                                                   "non-members' cosine (quantile: at Phi(this))")
    hidden: list[int] = Field([512, 256, 128], min_length=1, description="MLP hidden layer sizes")
    epochs: int = Field(15, ge=1, description="MLP training epochs at most")
    lr: float = Field(1e-3, gt=0.0, description="Adam learning rate")
    batch_size: int = Field(32, ge=1, description="MLP batch size")
    early_stopping: bool = Field(True, description="hold out 10% and stop after 3 epochs without improvement")
    balance: bool = Field(True, description="subsample both classes to the smaller one's size")
    folds: int = Field(5, ge=1, description="cross-fit folds over challenge identities (1: transductive)")
    min_pseudo: int = Field(1, ge=1, description="pseudo-members needed in each training set")
    reference: str = Field("population", description="known non-members: population, or population+background")


class WSA(Attack):
    name = "wsa"
    version = "1"
    description = ("Weakly supervised attack (Ko et al. 2023): pseudo-members above mean + 1.5 std of known "
                   "non-members' cosine, an MLP on [media, text] embeddings against known non-members.")
    units = ("pair",)
    inputs = frozenset({"text", "media"})
    requires = frozenset({"text", "media"})
    Options = WSAOptions

    def check_auxiliary(self, auxiliary: AuxiliaryData) -> None:
        check_reference(self.name, self.options.reference, auxiliary, MIN_REFERENCE)

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        o = self.options
        self.check_auxiliary(context.auxiliary)  # also when called outside the runner
        ref = reference_pairs(context.auxiliary, o.reference)
        ref_m, ref_t, ref_cos = pair_embeddings(target, ref, context.modality)
        media, text, cos = pair_embeddings(target, challenge.samples, context.modality)
        threshold = pseudo_threshold(ref_cos, o.threshold, o.std_multiplier)
        pseudo = cos >= threshold
        ref_x, x = np.concatenate([ref_m, ref_t], 1), np.concatenate([media, text], 1)
        fold = fold_of_rows(challenge.samples.identities, challenge.samples.ids, o.folds, context.rng)
        scores = np.zeros(len(challenge))
        for k in range(o.folds):
            train = pseudo & (fold != k) if o.folds > 1 else pseudo
            self._need_pseudo(int(train.sum()), int(pseudo.sum()), threshold)
            mlp = self._fit(x[train], ref_x, np.asarray(challenge.samples.ids)[train], context.rng)
            rows = fold == k
            scores[rows] = mlp_logit(mlp, x[rows])
        return AttackOutput(
            scores=scores, decisions=scores > 0,
            features={"cosine": cos, "pseudo_member": pseudo},
            info={"threshold": threshold, "pseudo_members": int(pseudo.sum()), "n_reference": len(ref_cos),
                  "folds": o.folds},
        )

    def _need_pseudo(self, n_train: int, n_total: int, threshold: float) -> None:
        if n_train < self.options.min_pseudo:
            o = self.options
            rule = (f"mean + {o.std_multiplier} std" if o.threshold == "mean+std"
                    else f"the {normal_cdf(o.std_multiplier):.4f} quantile")
            raise InvalidOptionsError(
                f"wsa: {n_total} challenge pairs reach the pseudo-member threshold {threshold:.4f} ({rule} of known "
                f"non-members' cosine), {n_train} in a training fold; it needs at least {o.min_pseudo} to train the "
                "attack model. Lower std_multiplier, lower min_pseudo, use fewer folds"
                + (", or threshold=quantile (a threshold above 1 cannot be reached by a cosine)."
                   if o.threshold == "mean+std" else ".")
            )

    def _fit(self, pseudo_x: np.ndarray, ref_x: np.ndarray, pseudo_ids: np.ndarray, rng: np.random.Generator):
        o = self.options
        pos, neg = pseudo_x[np.argsort(pseudo_ids, kind="stable")], ref_x  # sorted: row order never matters
        if o.balance:
            n = min(len(pos), len(neg))
            pos = pos[np.sort(rng.choice(len(pos), n, replace=False))]
            neg = neg[np.sort(rng.choice(len(neg), n, replace=False))]
        X = np.concatenate([pos, neg]).astype(np.float64)
        y = np.r_[np.ones(len(pos), int), np.zeros(len(neg), int)]
        return train_mlp(X, y, o, rng)


def normal_cdf(k: float) -> float:
    """Phi(k), from math.erf: scipy.stats would add its import time to every plugin load."""
    return 0.5 * (1.0 + math.erf(k / math.sqrt(2.0)))


def pseudo_threshold(ref_cos: np.ndarray, rule: str, std_multiplier: float) -> float:
    """The cosine a challenge pair must reach to become a pseudo-member. ``mean+std``: the
    paper's mean + k std (ddof=0). ``quantile``: the known non-members' empirical quantile
    at Phi(k), which equals it when their cosines are Gaussian (k=1.5: 0.9332) and, unlike
    it, never leaves the range of the cosines they have."""
    if rule == "mean+std":
        return float(ref_cos.mean() + std_multiplier * ref_cos.std())
    if rule == "quantile":
        return float(np.quantile(ref_cos, normal_cdf(std_multiplier)))
    raise ValueError(f"threshold={rule!r} is not valid; valid: {', '.join(THRESHOLDS)}")


def train_mlp(X: np.ndarray, y: np.ndarray, o: WSAOptions, rng: np.random.Generator):
    """The released code's training loop: epochs of shuffled minibatches (Adam), and with
    ``early_stopping`` a random 10% held out, stopping once its log-loss has not improved
    for 3 epochs; the last model is returned, as in the code."""
    from sklearn.metrics import log_loss
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier(hidden_layer_sizes=tuple(o.hidden), activation="relu", solver="adam",
                        learning_rate_init=o.lr, batch_size=min(o.batch_size, len(y)), max_iter=1)
    train, val = np.arange(len(y)), np.arange(0)
    if o.early_stopping and len(y) >= 10:
        order = rng.permutation(len(y))
        val, train = order[: len(y) // 10], order[len(y) // 10:]
    best, stale = np.inf, 0
    for _ in range(o.epochs):
        # partial_fit reseeds from random_state on every call: a fresh seed per epoch gives a
        # fresh shuffle per epoch (the first one also initialises the weights)
        mlp.set_params(random_state=int(rng.integers(2**31 - 1)))
        mlp.partial_fit(X[train], y[train], classes=[0, 1])  # one epoch
        if len(val) == 0:
            continue
        loss = log_loss(y[val], mlp.predict_proba(X[val])[:, 1], labels=[0, 1])
        best, stale = (loss, 0) if loss < best else (best, stale + 1)
        if stale >= 3:
            break
    return mlp


def fold_of_rows(identities, ids, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of each row, by identity (a non-PII row is its own group): groups sorted, then
    dealt in a random order, so the assignment does not depend on row order."""
    groups = [ident if ident is not None else f"row:{rid}" for ident, rid in zip(identities, ids)]
    unique = sorted(set(groups))
    order = rng.permutation(len(unique))
    fold = {g: int(pos % folds) for pos, g in zip(order, unique)}
    return np.array([fold[g] for g in groups], dtype=np.int64)


def mlp_logit(mlp, x: np.ndarray) -> np.ndarray:
    """The member logit of a fitted binary ReLU ``MLPClassifier``: its forward pass before
    the final logistic, from the public ``coefs_`` / ``intercepts_``."""
    if list(mlp.classes_) != [0, 1] or mlp.activation != "relu":
        raise ValueError(f"mlp_logit needs a binary ReLU MLP with classes [0, 1], got {list(mlp.classes_)}")
    h = np.asarray(x, dtype=np.float64)
    for w, b in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1]):
        h = np.maximum(h @ w + b, 0.0)
    return (h @ mlp.coefs_[-1] + mlp.intercepts_[-1]).ravel()
