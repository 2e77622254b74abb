"""IDIA: identity inference by zero-shot naming (Hintersdorf et al., "Does CLIP Know My Face?").

For each person, the auditor holds a few photos (never the target's training photos) and
a pool of candidate names (the challenge names plus population names). Under each prompt
template, every photo is classified zero-shot among the candidates' prompts; the
person's prediction for that prompt is the majority over their photos. The person is
called a member if at least ``tau`` prompts name them correctly. Continuous score: the
number of correct prompts plus the mean probability of the true name (a tie-breaker in
[0, 1)), so ROC curves are meaningful. It sends the person's photos: biometric data.

Prompts (``prompts``): the paper queries with 21 prompt templates of its own (the bare
name, "a person named ...", photo styles, settings), not with the training captions,
which an auditor does not know. The default ``paper-style`` is a set of 21 written here in
the same kinds (a second set of 21 for audio worlds, since photo prompts do not describe a
voice), disjoint from the caption templates of the embedded worlds (tested); any prompt
that still coincides with one of the world's templates (a dataset with its own template)
is dropped at run time and counted in ``info``. ``prompts=training`` uses the world's
caption templates, exactly the training captions' templates: the advantage of an auditor
who knows how the training captions were written, kept as the variant it was before.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from mia_bench.attack import Attack, AttackContext, AttackOutput
from mia_bench.data import Challenge
from mia_bench.errors import InvalidOptionsError


# Written here in the kinds of the paper's 21 prompts; none is a caption template of an embedded world.
IMAGE_PROMPTS = (
    "{name}", "an image showing {name}", "{name} in a photograph", "a snapshot of {name}",
    "a person called {name}", "someone named {name}", "this person's name is {name}",
    "a photograph of the person {name}", "{name} at a party", "{name} at work", "a candid shot of {name}",
    "a passport photo of {name}", "a colour photograph of {name}", "a grayscale photograph of {name}",
    "a blurry photograph of {name}", "a cropped picture of {name}", "a low-resolution image of {name}",
    "{name} wearing a jacket", "{name} on holiday", "a selfie taken by {name}", "a group photo with {name}",
)
AUDIO_PROMPTS = (
    "{name}", "a person called {name} talking", "someone named {name} speaking", "an audio clip of {name}",
    "speech by {name}", "{name} having a conversation", "a voice message from {name}", "{name} on the phone",
    "{name} giving a talk", "an interview with {name}", "{name} reading aloud", "a podcast episode with {name}",
    "a noisy recording of {name}", "a low-quality recording of {name}", "{name} speaking outdoors",
    "the speaker is {name}", "this speaker's name is {name}", "{name} answering a question",
    "{name} telling a story", "a voicemail left by {name}", "{name} saying hello",
)
PROMPT_SETS = ("paper-style", "training")


class IDIAOptions(BaseModel):
    tau: int = Field(1, ge=1, description="member if at least tau prompts name the person correctly")
    prompts: str = Field("paper-style", description="paper-style: 21 prompts disjoint from the training captions' "
                                                    "templates; training: the world's caption templates")
    max_prompts: int = Field(21, ge=1, description="prompt templates used, up to this many")
    extra_candidates: bool = Field(True, description="add population names to the candidate pool")


def normalise(template: str) -> str:
    """A template compared by its words: lower case, punctuation and repeated spaces dropped."""
    kept = "".join(ch if ch.isalnum() or ch.isspace() or ch in "{}'" else " " for ch in template.lower())
    return " ".join(kept.split())


def overlaps(prompt: str, template: str) -> bool:
    """The prompt is the template, or contains it, or (beyond the bare name) is contained in it."""
    p, t = normalise(prompt), normalise(template)
    return p == t or t in p or (p != "{name}" and p in t)


def prompt_templates(prompts: str, modality: str, world_templates) -> tuple[list[str], int]:
    """The prompt templates to query with, and how many paper-style ones were dropped for
    coinciding with one of the world's caption templates."""
    if prompts == "training":
        return list(world_templates), 0
    own = IMAGE_PROMPTS if modality == "image" else AUDIO_PROMPTS
    kept = [p for p in own if not any(overlaps(p, t) for t in world_templates)]
    return kept, len(own) - len(kept)


def _softmax(x: np.ndarray, scale: float) -> np.ndarray:
    z = (x - x.max(-1, keepdims=True)) * scale
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


class IDIA(Attack):
    name = "idia"
    version = "2"
    description = "Identity inference: zero-shot naming of the person's photos under many prompts (sends photos)."
    units = ("identity",)
    inputs = frozenset({"text", "media"})
    requires = frozenset({"text", "media"})
    Options = IDIAOptions

    def check(self) -> None:
        if self.options.prompts not in PROMPT_SETS:
            raise InvalidOptionsError(f"idia: prompts={self.options.prompts!r} is not valid; valid: "
                                      f"{', '.join(PROMPT_SETS)}")

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        o = self.options
        self.check()
        ev = challenge.evidence
        if ev is None or len(ev) == 0:
            raise ValueError("idia needs attacker-held photos of each person: set evidence_photos >= 1 in the split")
        query_template = context.auxiliary.templates[0]
        prefix, _, suffix = query_template.partition("{name}")
        names = [t[len(prefix): len(t) - len(suffix) if suffix else None] for t in challenge.samples.texts]  # the PII
        candidates = names + (list(context.auxiliary.names) if o.extra_candidates else [])
        templates, dropped = prompt_templates(o.prompts, context.modality, context.auxiliary.templates)
        templates = templates[: o.max_prompts]
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
            info={"prompts": len(templates), "prompt_set": o.prompts, "prompts_dropped_as_training_templates": dropped,
                  "candidates": len(candidates)},
        )
