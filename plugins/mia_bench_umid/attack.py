"""UMID: text-only membership inference (Cheng et al., 2026), and a text-geometry baseline.

The auditor sends only text (the person's PII query in a caption template): no face,
no voice. For each query, K independent inversions optimise a media input towards the
query's text embedding through the target's gradient path; similarity S (alignment) and
variability D (dispersion of the K results) are compared with the same features of a
gibberish reference by anomaly detectors fitted on that reference (see ``decision.py``).

Two variants share one attack, one inversion cache and one set of fitted detectors; only
the scoring step differs (``score``):

- ``score=ensemble``: UMID as the paper defines it: PyOD's IForest, LOF, OCSVM, ECOD and
  AutoEncoder score two-sided outlyingness, the continuous score is the mean of their
  reference-calibrated scores, the hard decision their majority vote;
- ``score=oriented-z`` (default, ours): the mean signed z-score against the reference
  (S up, D down: Theorem 3.1's direction), the detectors' vote gated by its sign.

Choices the paper leaves open, exposed as options and recorded in every result:
inversion space (default ``pixel``: sigmoid-parametrised pixels; low-resolution spaces
lost the signal in our ablation), K=8, 100 Adam steps at lr 0.05 (30 steps left D
uninformative and diluted S; see leaderboards/umid/ablation.md; ~0.1 s per query on 2
CPU cores), the reference (100 gibberish strings of 10 printable characters, as in the
predecessors' code), the features (S and D), the detectors (default per ``score``, see
``UMIDOptions.detectors``) and the ensemble's continuous score (the paper gives only the
vote).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field, model_validator

from mia_bench.attack import Attack, AttackContext, AttackOutput
from mia_bench.cache import load_cached_file, stable_hash
from mia_bench.data import Challenge
from mia_bench.errors import InvalidOptionsError

from .decision import DETECTORS, ORIENTED_DETECTORS, PAPER_DETECTORS, SCORES, decide
from .inversion import invert, resolve_space, similarity_variability
from .reference import ALPHABETS, gibberish, gibberish_names

FEATURES = ("S", "D", "S_max", "S_gain", "S_early")


class UMIDOptions(BaseModel):
    k: int = Field(8, ge=2, le=512, description="independent inversion restarts per query")
    steps: int = Field(100, ge=1, le=5000, description="Adam steps per inversion")
    lr: float = Field(0.05, gt=0, description="Adam learning rate")
    space: str = Field("pixel", description="inversion space: pixel (on audio targets: input), lowres:R, waveform, "
                                            "input (the model input: a log-mel latent on CLAP)")
    reference: str = Field("gibberish", description="gibberish (paper), gibberish-names, or population-names")
    n_reference: int = Field(100, ge=10, le=100_000, description="reference queries (at most 100000: each is inverted k times)")
    gibberish_length: int = Field(10, ge=1, le=200, description="characters per gibberish string")
    alphabet: str = Field("printable", description=f"gibberish alphabet: {', '.join(ALPHABETS)} or literal chars")
    features: list[str] = Field(["S", "D"], description=f"features for the detectors, from {', '.join(FEATURES)}")
    score: str = Field("oriented-z", description="oriented-z (ours: signed z-score vs the reference, member side "
                                                 "only) or ensemble (the paper's: the detectors score and vote)")
    detectors: list[str] | None = Field(None, description=f"PyOD detectors, from {', '.join(DETECTORS)}; default: "
                                                          f"{', '.join(PAPER_DETECTORS)} (the paper's) for "
                                                          f"score=ensemble, {', '.join(ORIENTED_DETECTORS)} for "
                                                          "oriented-z (the set it was measured with)")
    chunk: int | None = Field(None, ge=1, description="rows (queries x restarts) per batched forward/backward; "
                                                      "default: the target's gradient_batch (1024 on CLIP, 128 on "
                                                      "CLAP's micro towers); results do not depend on it")

    @model_validator(mode="after")
    def _default_detectors(self) -> "UMIDOptions":
        if self.detectors is None:  # recorded resolved, so every result names the detectors it used
            self.detectors = list(PAPER_DETECTORS if self.score == "ensemble" else ORIENTED_DETECTORS)
        return self


class UMID(Attack):
    name = "umid"
    version = "2"
    description = ("Text-only: cross-modal inversion similarity/variability vs a gibberish reference (Cheng et al. "
                   "2026); score=ensemble: the paper's detector ensemble, oriented-z (default): ours.")
    units = ("identity",)
    inputs = frozenset({"text"})
    requires = frozenset({"text", "gradients"})
    Options = UMIDOptions

    def _check(self) -> None:
        o = self.options
        if o.score not in SCORES:
            raise InvalidOptionsError(f"umid: score={o.score!r} is not valid; valid: {', '.join(SCORES)} "
                                      "(ensemble = the paper's detector ensemble, oriented-z = ours)")
        bad = [f for f in o.features if f not in FEATURES] + [d for d in o.detectors if d not in DETECTORS]
        if bad or not o.features or not o.detectors:
            raise InvalidOptionsError(f"umid: unknown or empty features/detectors {bad}; features: "
                                      f"{', '.join(FEATURES)}; detectors: {', '.join(DETECTORS)}")

    def check(self) -> None:
        """Bad options fail when the plan is resolved, before any model loads."""
        self._check()

    def reference_queries(self, context: AttackContext, rng: np.random.Generator) -> list[str]:
        o, template = self.options, context.auxiliary.templates[0]
        if o.reference == "gibberish":
            strings = gibberish(o.n_reference, o.gibberish_length, o.alphabet, rng)
        elif o.reference == "gibberish-names":
            strings = gibberish_names(o.n_reference, rng)
        elif o.reference == "population-names":
            names = list(context.auxiliary.names)
            strings = [names[i] for i in rng.permutation(len(names))[: o.n_reference]]
        else:
            raise ValueError(f"umid: reference={o.reference!r}; valid: gibberish, gibberish-names, population-names")
        return [template.format(name=s) for s in strings]

    def features(self, target, texts: list[str], context: AttackContext, stream: str) -> dict[str, np.ndarray]:
        """Inversion features of ``texts``, cached by (target, texts, inversion options, seed)."""
        o = self.options
        space = resolve_space(o.space, target.modality)
        key = stable_hash({"target": target.fingerprint, "texts": texts, "k": o.k, "steps": o.steps, "lr": o.lr,
                           "space": space, "seed": context.seed, "stream": stream, "v": self.version})
        path = context.cache.entry("umid-features", key) / "features.npz"
        cached = load_cached_file(path, _load_npz)  # a damaged file is named, deleted and recomputed
        if cached is not None:
            return cached
        import time

        seeds = [int(stable_hash([context.seed, t], 8), 16) for t in texts]
        t0 = time.perf_counter()
        text_emb = target.encode_text(texts)
        result = invert(target, text_emb, o.k, o.steps, o.lr, space, seeds, chunk=o.chunk or target.gradient_batch)
        feats = similarity_variability(result, text_emb)
        feats["forward_backward"] = np.array(result.forward_backward)
        feats["seconds"] = np.array(time.perf_counter() - t0)  # the audit cost, also when read from cache
        _save_npz(path, feats)
        return feats

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        self._check()
        o = self.options
        ref_texts = self.reference_queries(context, np.random.default_rng([context.seed, 7]))
        query = self.features(target, list(challenge.samples.texts), context, "query")
        ref = self.features(target, ref_texts, context, "reference")
        out = decide(ref, query, o.features, o.detectors, o.score, context.seed)
        passes = int(query["forward_backward"]) + int(ref["forward_backward"])
        return AttackOutput(
            scores=out["score"],
            decisions=out["decision"],
            features={**{f: query[f] for f in FEATURES}, "ensemble_score": out["ensemble"],
                      "oriented_z_score": out["oriented_z"], "detector_votes": out["votes"]},
            info={"score": o.score, "detectors": list(o.detectors), "forward_backward_rows": passes,
                  "reference_queries": len(ref_texts),
                  "inversion_seconds_per_query": float(query["seconds"]) / max(1, len(challenge)),
                  "audit_seconds": float(query["seconds"]) + float(ref["seconds"]),
                  "reference_seconds": float(ref["seconds"]),
                  "reference_S_mean": float(ref["S"].mean()), "reference_D_mean": float(ref["D"].mean())},
        )


def _load_npz(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {f: z[f] for f in z.files}


def _save_npz(path, arrays: dict) -> None:
    import io

    from mia_bench.cache import atomic_write_bytes

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


class TextKNNOptions(BaseModel):
    n_reference: int = Field(1000, ge=10, le=1_000_000,
                             description="plausible reference names (population names + name-shaped gibberish; "
                                         "at most 1000000, about 2 GB of 512-d embeddings)")
    k: int = Field(20, ge=1, description="neighbours")


class TextKNN(Attack):
    """Members lie in sparser regions of text-embedding space than unseen names: score =
    minus the mean cosine to the k nearest reference names. No inversion: it tells whether
    UMID's inversion adds anything over the text encoder's own geometry."""

    name = "text-knn"
    version = "1"
    description = "Text-only, no inversion: sparsity of the query's text embedding among reference names."
    units = ("identity",)
    inputs = frozenset({"text"})
    requires = frozenset({"text"})
    Options = TextKNNOptions

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        o, template = self.options, context.auxiliary.templates[0]
        names = list(context.auxiliary.names)
        names += gibberish_names(max(0, o.n_reference - len(names)), np.random.default_rng([context.seed, 11]))
        ref = target.encode_text([template.format(name=n) for n in names])
        q = target.encode_text(list(challenge.samples.texts))
        sims = np.sort(q @ ref.T, axis=1)[:, ::-1][:, : o.k]
        return AttackOutput(scores=-sims.mean(1).astype(np.float64))
