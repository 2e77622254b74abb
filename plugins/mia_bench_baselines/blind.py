"""The blind baseline (Das et al., 2025): a model-free classifier that certifies a split.

It never queries the target. Features: TF-IDF of character n-grams of the text, plus a
colour histogram of the image (or simple waveform statistics for audio); a logistic
regression learns member vs non-member. The runner cross-fits it (k folds), so no row is
scored by a classifier that saw its label (folds are grouped by identity, so a person's
other photos cannot leak the label through the name). On an i.i.d. split it must not
beat chance: if its AUC is significantly above 0.5, the split has a distribution shift
and attack numbers on it mean little. On small samples it can fall somewhat *below* 0.5:
cross-fitting with fixed class totals anti-learns (holding out a member leaves its
name's n-grams slightly enriched among non-members); that is not a shift.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from mia_bench.attack import Attack, AttackContext, AttackOutput
from mia_bench.data import Challenge


class BlindOptions(BaseModel):
    features: Literal["text", "media", "both"] = Field("both", description="text, media or both")
    C: float = Field(1.0, gt=0, description="inverse L2 regularisation of the logistic regression")


def _media_features(samples) -> np.ndarray | None:
    if samples.images is not None:
        x = samples.images.reshape(len(samples), -1, 3).astype(np.float64) / 255
        hist = [np.stack([np.histogram(px[:, c], bins=8, range=(0, 1))[0] for c in range(3)]).ravel() for px in x]
        return np.asarray(hist, dtype=np.float64) / x.shape[1]
    if samples.audio is not None:
        a = samples.audio.astype(np.float64)
        return np.stack([a.std(1), np.abs(a).mean(1), (np.diff(np.sign(a), axis=1) != 0).mean(1)], 1)
    return None


class Blind(Attack):
    name = "blind"
    version = "1"
    description = "Model-free control: TF-IDF + media statistics + logistic regression, cross-fitted."
    units = ("pair", "identity")
    inputs = frozenset({"text", "media"})
    requires = frozenset()
    model_free = True
    supervised = True
    Options = BlindOptions

    def _features(self, challenge: Challenge, fit: bool):
        from scipy.sparse import csr_matrix, hstack

        parts = []
        texts = [t or "" for t in challenge.samples.texts]
        if self.options.features in ("text", "both"):
            parts.append(self.vectorizer_.fit_transform(texts) if fit else self.vectorizer_.transform(texts))
        media = _media_features(challenge.samples) if self.options.features in ("media", "both") else None
        if media is not None:
            parts.append(csr_matrix(media))
        if not parts:
            raise ValueError(f"blind: no features of kind {self.options.features!r} in this challenge")
        return hstack(parts).tocsr()

    def fit(self, challenge: Challenge, labels: np.ndarray, context: AttackContext) -> "Blind":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if self.options.features not in ("text", "media", "both"):
            raise ValueError(f"blind: features={self.options.features!r} is not valid; valid: text, media, both")
        self.vectorizer_ = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=1)
        self.model_ = LogisticRegression(C=self.options.C, max_iter=2000)
        self.model_.fit(self._features(challenge, fit=True), labels)
        return self

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        proba = self.model_.predict_proba(self._features(challenge, fit=False))[:, 1]
        return AttackOutput(scores=proba.astype(np.float64), decisions=proba >= 0.5)
