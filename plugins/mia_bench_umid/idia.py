"""IDIA: identity inference by zero-shot naming (Hintersdorf et al., "Does CLIP Know My Face?").

For each person, the auditor holds a few photos (never the target's training photos) and
a pool of candidate names (the challenge names plus population names). Under each prompt
template, every photo is classified zero-shot among the candidates' prompts; the
person's prediction for that prompt is the majority over their photos. The person is
called a member if at least ``tau`` prompts name them correctly. Continuous score: the
number of correct prompts plus the mean probability of the true name (a tie-breaker in
[0, 1)), so ROC curves are meaningful. It sends the person's photos: biometric data.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from mia_bench.attack import Attack, AttackContext, AttackOutput
from mia_bench.data import Challenge


class IDIAOptions(BaseModel):
    tau: int = Field(1, ge=1, description="member if at least tau prompts name the person correctly")
    max_prompts: int = Field(21, ge=1, description="prompt templates used (the world's templates, up to this many)")
    extra_candidates: bool = Field(True, description="add population names to the candidate pool")


def _softmax(x: np.ndarray, scale: float) -> np.ndarray:
    z = (x - x.max(-1, keepdims=True)) * scale
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


class IDIA(Attack):
    name = "idia"
    version = "1"
    description = "Identity inference: zero-shot naming of the person's photos under many prompts (sends photos)."
    units = ("identity",)
    inputs = frozenset({"text", "media"})
    requires = frozenset({"text", "media"})
    Options = IDIAOptions

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        o = self.options
        ev = challenge.evidence
        if ev is None or len(ev) == 0:
            raise ValueError("idia needs attacker-held photos of each person: set evidence_photos >= 1 in the split")
        query_template = context.auxiliary.templates[0]
        prefix, _, suffix = query_template.partition("{name}")
        names = [t[len(prefix): len(t) - len(suffix) if suffix else None] for t in challenge.samples.texts]  # the PII
        candidates = names + (list(context.auxiliary.names) if o.extra_candidates else [])
        templates = list(context.auxiliary.templates[: o.max_prompts])
        media = target.encode_media(ev.media(context.modality))  # (E, D)
        owner = {ident: i for i, ident in enumerate(challenge.samples.identities)}
        ev_owner = np.array([owner[x] for x in ev.identities])
        correct = np.zeros((len(names), len(templates)), bool)
        prob_true = np.zeros((len(names), len(templates)))
        for j, tpl in enumerate(templates):
            text = target.encode_text([tpl.format(name=n) for n in candidates])  # (C, D)
            probs = _softmax(media @ text.T, target.logit_scale)  # (E, C)
            pred = probs.argmax(1)
            for i in range(len(names)):
                rows = np.nonzero(ev_owner == i)[0]
                votes = np.bincount(pred[rows], minlength=len(candidates)).astype(float)
                votes += probs[rows].sum(0) / (len(rows) + 1)  # ties broken by probability, never order
                correct[i, j] = votes.argmax() == i
                prob_true[i, j] = probs[rows, i].mean()
        n_correct = correct.sum(1)
        return AttackOutput(
            scores=n_correct + prob_true.mean(1).clip(0, 0.999),
            decisions=n_correct >= o.tau,
            features={"correct_prompts": n_correct, "true_name_probability": prob_true.mean(1)},
            info={"prompts": len(templates), "candidates": len(candidates)},
        )
