"""Per-pair statistics of a contrastive model for LiRA, oriented higher = more member-like.

- ``atanh-cos``: Fisher z of the image-text cosine (a bounded score made roughly Gaussian);
- ``logit``: stable logit of the true caption's probability among fixed candidate
  captions, softmax(logit_scale * cos), the analogue of LiRA's logit-scaled confidence;
- ``neg-loss``: minus the per-pair contrastive (image -> text) loss over the same candidates.

Augmented queries (``queries="original+flip"``) give one statistic per view: LiRA fits one
Gaussian per view and averages the per-view likelihood ratios.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .scoring import atanh_cosine, logit_from_logits

STATISTICS = ("atanh-cos", "logit", "neg-loss")
QUERIES = ("original", "original+flip")


def query_views(images: np.ndarray, queries: str) -> list[np.ndarray]:
    if queries not in QUERIES:
        raise ValueError(f"queries={queries!r} is not valid; valid: {', '.join(QUERIES)}")
    views = [images]
    if queries == "original+flip":
        views.append(np.ascontiguousarray(images[:, :, ::-1]))
    return views


def pair_statistics(target, media: np.ndarray, texts: Sequence[str], statistic: str, queries: str,
                    candidates: Sequence[str]) -> np.ndarray:
    """``(N, n_views)`` statistics of each (media, caption) pair on ``target``."""
    if statistic not in STATISTICS:
        raise ValueError(f"statistic={statistic!r} is not valid; valid: {', '.join(STATISTICS)}")
    text = target.encode_text(list(texts))
    cand = target.encode_text(list(candidates)) if statistic != "atanh-cos" else None
    scale = float(target.logit_scale)
    out = []
    for view in query_views(media, queries) if media.ndim == 4 else [media]:
        emb = target.encode_media(view)
        cos = (emb * text).sum(1).astype(np.float64)
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
