"""EncoderMI membership features: pairwise similarities of an encoder's features of n
augmented views of one input (Liu et al., CCS 2021, section 4.2).

An encoder that was pre-trained on an input has learned to map its augmented views to
close features, so members get higher pairwise similarities. Only the encoder's output
feature vectors are used (black-box access).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from mia_bench.augment import make_views

SIMILARITIES = ("cosine", "pearson")
CHUNK_ROWS = 128  # rows whose views are encoded per call: bounds memory, keeps batches large


def view_embeddings(encode: Callable[[np.ndarray], np.ndarray], media: np.ndarray, n_views: int,
                    seeds: Sequence[int], ops: Sequence[str], modality: str,
                    maker: Callable[[np.ndarray, int, Sequence[int]], np.ndarray] | None = None) -> np.ndarray:
    """``(N, n_views, D)`` encoder features of each input's views; all views of a chunk of
    rows go through the encoder in one batched call. Views come from ``maker(media, n,
    seeds)`` when given (e.g. the shadow's training augmentation, ``views.py``), else
    from the fixed augmentations ``ops``."""
    out = []
    for a in range(0, len(media), CHUNK_ROWS):
        chunk, chunk_seeds = media[a : a + CHUNK_ROWS], seeds[a : a + CHUNK_ROWS]
        views = (maker(chunk, n_views, chunk_seeds) if maker is not None
                 else make_views(chunk, n_views, chunk_seeds, ops, modality))
        k = views.shape[0]
        emb = encode(views.reshape(k * n_views, *views.shape[2:]))
        out.append(emb.reshape(k, n_views, -1))
    return np.concatenate(out) if out else np.zeros((0, n_views, 0), np.float32)


def pairwise_similarities(emb: np.ndarray, kind: str = "cosine") -> np.ndarray:
    """``(N, n, D) -> (N, n(n-1)/2)``: similarity of every pair of views (upper triangle).

    cosine: of the feature vectors; pearson: correlation coefficient of the two vectors'
    entries (cosine after centring each vector), the paper's alternative.
    """
    if kind not in SIMILARITIES:
        raise ValueError(f"similarity={kind!r} is not valid; valid: {', '.join(SIMILARITIES)}")
    x = emb.astype(np.float64)
    if kind == "pearson":
        x = x - x.mean(axis=2, keepdims=True)
    x = x / np.maximum(np.linalg.norm(x, axis=2, keepdims=True), 1e-12)
    gram = np.einsum("nid,njd->nij", x, x)
    i, j = np.triu_indices(emb.shape[1], k=1)
    return gram[:, i, j]
