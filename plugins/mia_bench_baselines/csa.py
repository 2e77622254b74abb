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
from mia_bench.errors import InvalidOptionsError


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
    aggregate: str = Field("drop", description="drop (Ko et al.): cos(original) - mean cos(views), members' cosine "
                                               "drops more; mean: mean cos over original + views")


AGGREGATES = ("drop", "mean")


class CSAAug(Attack):
    """Ko et al.'s augmentation-enhanced attack: the *change* of the pair's cosine under
    augmentation. Their reasoning: the model fits the exact training input, so a member's
    cosine is high on the original and falls when the input is transformed, while a
    non-member's, never fitted, has less to lose. So the default score is the drop,
    ``cos(original) - mean cos(views)``, higher = member. ``aggregate=mean`` (mean cosine
    over the original and its views: CSA smoothed over augmentations) is kept as the
    variant it was before. Views: ``n_views`` random augmentations per image or clip
    (the modality's ops from the core), all encoded in one batched pass."""

    name = "csa-aug"
    version = "2"
    description = "Cosine drop under augmentation (Ko et al. 2023): cos(original) - mean cos(augmented views)."
    units = ("pair",)
    Options = CSAAugOptions

    def check(self) -> None:
        if self.options.aggregate not in AGGREGATES:
            raise InvalidOptionsError(f"csa-aug: aggregate={self.options.aggregate!r} is not valid; valid: "
                                      f"{', '.join(AGGREGATES)}")

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        opts = self.options
        ops = tuple(opts.ops) if opts.ops is not None else default_ops(context.modality)
        check_view_ops(ops, context.modality)
        self.check()
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
