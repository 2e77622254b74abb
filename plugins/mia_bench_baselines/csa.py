"""Cosine-similarity attacks (Ko et al., ICCV 2023) and their augmentation-enhanced variant.

Pair level: score = cos(media embedding, own caption embedding).
Identity level: score = mean over the attacker-held photos/clips of a person of
cos(photo embedding, the person's PII query), so it sends biometric data.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from mia_bench.attack import Attack, AttackContext, AttackOutput
from mia_bench.augment import AUDIO_OPS, IMAGE_OPS, check_view_ops, default_ops, make_views, row_seeds
from mia_bench.data import Challenge


def _identity_means(challenge: Challenge, per_row: np.ndarray) -> np.ndarray:
    """Average per-evidence-row values over each challenge identity."""
    ev = challenge.evidence
    out = np.zeros(len(challenge))
    for i, ident in enumerate(challenge.samples.identities):
        rows = ev.rows_of(ident)
        if len(rows) == 0:
            raise ValueError(f"no evidence photos for identity {ident!r}; set evidence_photos >= 1 in the split")
        out[i] = per_row[rows].mean()
    return out


class CSA(Attack):
    name = "csa"
    version = "1"
    description = "Cosine similarity of media and caption embeddings (Ko et al. 2023)."
    units = ("pair", "identity")

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        if challenge.unit == "pair":
            s = challenge.samples
            cos = (target.encode_text(s.texts) * target.encode_media(s.media(context.modality))).sum(1)
            return AttackOutput(scores=cos.astype(np.float64))
        ev = challenge.evidence
        text = target.encode_text(challenge.samples.texts)
        index = {ident: i for i, ident in enumerate(challenge.samples.identities)}
        media = target.encode_media(ev.media(context.modality))
        cos = (media * text[[index[x] for x in ev.identities]]).sum(1)
        return AttackOutput(scores=_identity_means(challenge, cos))


class CSAAugOptions(BaseModel):
    n_views: int = Field(8, ge=1, le=256, description="augmented views per image or clip")
    ops: list[str] | None = Field(None, description=f"augmentations (default: all of the modality's): images "
                                                    f"{', '.join(IMAGE_OPS)}; audio {', '.join(AUDIO_OPS)}")
    aggregate: str = Field("mean", description="mean: mean cos over original+views; drop: cos(original) - mean cos(views)")


class CSAAug(Attack):
    name = "csa-aug"
    version = "1"
    description = "Cosine similarity aggregated over augmented views (all views in one batched pass)."
    units = ("pair",)
    Options = CSAAugOptions

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        opts = self.options
        ops = tuple(opts.ops) if opts.ops is not None else default_ops(context.modality)
        check_view_ops(ops, context.modality)
        if opts.aggregate not in ("mean", "drop"):
            raise ValueError(f"csa-aug: aggregate={opts.aggregate!r} is not valid; valid: mean, drop")
        s = challenge.samples
        n = len(s)
        media = s.media(context.modality)
        views = make_views(media, opts.n_views, row_seeds(s.ids, context.seed), ops, context.modality)
        batch = np.concatenate([media[:, None], views], axis=1).reshape(-1, *media.shape[1:])
        emb = target.encode_media(batch).reshape(n, opts.n_views + 1, -1)  # one batched pass
        cos = np.einsum("nvd,nd->nv", emb, target.encode_text(s.texts))
        if opts.aggregate == "mean":
            score = cos.mean(1)
        else:
            score = cos[:, 0] - cos[:, 1:].mean(1)
        return AttackOutput(scores=score.astype(np.float64), features={"cos_views": cos})
