"""Utility of a target: what a defense costs. Computed once per target, recorded in every
result on it, never seen by attacks.

- zero-shot identification: held-out photos of member identities (never trained on),
  classified among all member names with the canonical template; top-1 accuracy;
- retrieval: held-out background pairs, image -> text recall@1 among all their captions;
- kNN identification (media encoder only, so it also rates image-only encoders, like the
  downstream classifiers of EncoderMI's countermeasure study): each held-out photo of a
  member is named by its nearest trained photo (cosine), top-1 accuracy.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from .data import MembershipSplit


def utility_metrics(target, split: MembershipSplit) -> dict:
    out: dict = {}
    modality = split.world.modality
    out.update(knn_identification(target, split))
    if "text" not in target.capabilities:  # e.g. an image-only (SimCLR) encoder: no zero-shot utility
        return out
    pii = split.utility_pii
    if len(pii) and pii.media(modality) is not None:
        members = sorted({x for x in pii.identities if x is not None})
        names = [split.world.templates[0].format(name=split.world.identity(i).name) for i in members]
        pred = (target.encode_media(pii.media(modality)) @ target.encode_text(names).T).argmax(1)
        truth = np.array([members.index(cast(str, x)) for x in pii.identities])  # PII rows all name a person
        out["zero_shot_identification"] = float((pred == truth).mean())
        out["identification_candidates"] = len(members)
    bg = split.utility_background
    if len(bg) and bg.media(modality) is not None:
        sims = target.encode_media(bg.media(modality)) @ target.encode_text(list(bg.texts)).T
        out["retrieval_recall_at_1"] = float((sims.argmax(1) == np.arange(len(bg))).mean())
        out["retrieval_candidates"] = len(bg)
    return out


def knn_identification(target, split: MembershipSplit) -> dict:
    modality = split.world.modality
    pii = split.utility_pii
    train = split.train.subset([i for i, x in enumerate(split.train.identities) if x is not None])
    if not len(pii) or not len(train) or pii.media(modality) is None or train.media(modality) is None:
        return {}
    nearest = (target.encode_media(pii.media(modality)) @ target.encode_media(train.media(modality)).T).argmax(1)
    truth = np.array(pii.identities)
    return {"knn_identification": float((np.array(train.identities)[nearest] == truth).mean())}
