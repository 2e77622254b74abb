"""Per-pair statistics of a contrastive model for LiRA, oriented higher = more member-like.

- ``atanh-cos``: Fisher z of the image-text cosine (a bounded score made roughly Gaussian);
- ``logit``: stable logit of the true caption's probability among fixed candidate
  captions, softmax(logit_scale * cos), the analogue of LiRA's logit-scaled confidence;
- ``neg-loss``: minus the per-pair contrastive (image -> text) loss over the same candidates.

Augmented queries give one statistic per view: LiRA fits one Gaussian per view and
averages the per-view likelihood ratios. ``original+augmented`` (default) adds the
modality's natural view: the horizontal flip of an image (``original+flip``), or a
circular time shift of a clip by a tenth of its length (``original+shift``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .scoring import atanh_cosine, logit_from_logits

STATISTICS = ("atanh-cos", "logit", "neg-loss")
QUERIES = ("original", "original+augmented", "original+flip", "original+shift")
SHIFT_FRACTION = 0.1


def resolve_queries(queries: str, modality: str) -> str:
    """``original+augmented`` -> the modality's view; a view of the other modality is an error."""
    if queries not in QUERIES:
        raise ValueError(f"queries={queries!r} is not valid; valid: {', '.join(QUERIES)}")
    if queries == "original+augmented":
        return "original+flip" if modality == "image" else "original+shift"
    wrong = {"image": "original+shift", "audio": "original+flip"}.get(modality)
    if queries == wrong:
        raise ValueError(f"queries={queries!r} does not apply to {modality} targets; use original+augmented "
                         f"(= {resolve_queries('original+augmented', modality)}) or original")
    return queries


def query_views(media: np.ndarray, queries: str) -> list[np.ndarray]:
    """The original media plus the view ``queries`` names (images ``(N, H, W, 3)``, clips ``(N, T)``)."""
    views = [media]
    if queries == "original+flip":
        views.append(np.ascontiguousarray(media[:, :, ::-1]))
    elif queries == "original+shift":
        views.append(np.roll(media, int(round(SHIFT_FRACTION * media.shape[1])), axis=1))
    return views


def pair_statistics(target, media: np.ndarray, texts: Sequence[str], statistic: str, queries: str,
                    candidates: Sequence[str]) -> np.ndarray:
    """``(N, n_views)`` statistics of each (media, caption) pair on ``target``; ``queries``
    already resolved for the target's modality (:func:`resolve_queries`)."""
    if statistic not in STATISTICS:
        raise ValueError(f"statistic={statistic!r} is not valid; valid: {', '.join(STATISTICS)}")
    # products in float64: a float32 product's last bits follow the BLAS kernel's summation
    # order, and LiRA's Gaussian fits and RMIA's ratios would inherit them
    text = np.asarray(target.encode_text(list(texts)), dtype=np.float64)
    cand = np.asarray(target.encode_text(list(candidates)), dtype=np.float64) if statistic != "atanh-cos" else None
    scale = float(target.logit_scale)
    out = []
    for view in query_views(media, queries):
        emb = np.asarray(target.encode_media(view), dtype=np.float64)
        cos = (emb * text).sum(1)
        if statistic == "atanh-cos":
            out.append(atanh_cosine(cos))
            continue
        # column 0: the true caption; then the fixed candidates (a caption equal to the true
        # one is masked out, so a pair is never its own negative)
        logits = scale * np.concatenate([cos[:, None], emb @ cand.T], axis=1)
        same = np.array([[t == c for c in candidates] for t in texts])
        logits[:, 1:][same] = -np.inf
        if statistic == "logit":
            out.append(logit_from_logits(logits, np.zeros(len(cos), dtype=int)))
        else:
            top = logits.max(1, keepdims=True)
            lse = top[:, 0] + np.log(np.exp(logits - top).sum(1))
            out.append(logits[:, 0] - lse)  # log p(true caption) = -loss
    return np.stack(out, axis=1)
