"""EncoderMI-V / -S / -T (Liu, Jia, Qu, Gong, CCS 2021) as three attack plugins.

Pipeline: train a shadow encoder on shadow members (background-knowledge setting chosen
by ``know_data`` / ``know_arch`` / ``know_algorithm``), compute membership features of
shadow members and non-members (pairwise similarities of n augmented views), train the
inference classifier on them, then apply it to the target encoder's features of each
challenge input. Black-box: only the target's media (image or audio) feature vectors.

Choices where the paper is silent, all options recorded with every result: shadow
identities split 50/50 with ``shadow_train_photos`` photos each (the target protocol's
default), the shadow training recipe is the target plugin's, the MLP is 64 hidden units,
DeepSets uses sum pooling with 16 hidden units. The views follow the paper by default:
the shadow encoder's own training augmentation (``views=training``; ``views=fixed`` or
``ops`` for a fixed list, see ``views.py``).
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
from pydantic import BaseModel, Field, model_validator

from mia_bench.attack import Attack, AttackContext, AttackOutput
from mia_bench.augment import row_seeds
from mia_bench.cache import stable_hash
from mia_bench.data import Challenge

from .classifiers import SetClassifier, ThresholdClassifier, VectorClassifier
from .features import SIMILARITIES, pairwise_similarities, view_embeddings
from .shadow import build_shadow_encoder, pick_arch, setting_label, shadow_builder, shadow_pool, shadow_set
from .views import VIEWS, ViewSpec, resolve_views

ALGORITHMS = {"clip-contrastive": "clip", "simclr": "simclr"}  # target recipe's algorithm -> shadow trainer
OTHER_ALGORITHM = {"clip": "simclr", "simclr": "clip"}


class EncoderMIOptions(BaseModel):
    n_views: int = Field(10, ge=2, le=64, description="augmented views per input (n); n(n-1)/2 features")
    views: str | None = Field(None, description="training (the paper: the shadow's own training augmentation) or "
                                                "fixed (the ops list); default training, fixed when ops is given")
    ops: list[str] | None = Field(None, description="views=fixed augmentations (default: crop, flip, color, grayscale "
                                                    "for images; shift, gain, noise, speed for audio)")
    similarity: str = Field("cosine", description=f"pairwise similarity: {', '.join(SIMILARITIES)}")
    know_data: bool = Field(True, description="shadow data from the target's distribution (else alt_data)")
    know_arch: bool = Field(True, description="shadow encoder has the target's architecture (else alt_arch)")
    know_algorithm: bool = Field(True, description="shadow trained like the target (else alt_algorithm)")
    alt_data: str = Field("pii-avatars", description="dataset spec of the other distribution")
    alt_arch: str | None = Field(None, description="architecture when know_arch=false (default: another one of the same size)")
    alt_algorithm: str | None = Field(None, description="training algorithm when know_algorithm=false (default: "
                                                        "simclr for a CLIP target, clip for a SimCLR one)")
    shadow_target: str | None = Field(None, description="target spec that builds shadows when the target cannot "
                                                        "(pretrained targets)")
    shadow_train_photos: int = Field(5, ge=1, description="photos per shadow member identity trained on")

    @model_validator(mode="after")
    def _resolve_views(self) -> "EncoderMIOptions":
        if self.views is None:  # recorded resolved, so every result names where its views came from
            self.views = "fixed" if self.ops is not None else "training"
        return self


class _EncoderMI(Attack):
    version = "3"  # 2: the classifier seed follows the run seed and the options; 3: views default to the shadow's augmentation
    units = ("pair",)
    inputs = frozenset({"media"})
    requires = frozenset({"media"})
    uses_shadow_models = True
    classifier: type

    def _classifier(self, seed: int):
        return self.classifier(seed=seed)

    def check(self) -> None:
        """Bad options fail when the plan is resolved, before any shadow is trained."""
        from mia_bench.augment import AUDIO_OPS, IMAGE_OPS
        from mia_bench.errors import InvalidOptionsError

        opts = self.options
        if opts.views not in VIEWS:
            raise InvalidOptionsError(f"{self.name}: views={opts.views!r} is not valid; valid: {', '.join(VIEWS)}")
        if opts.views == "training" and opts.ops is not None:
            raise InvalidOptionsError(f"{self.name}: ops={opts.ops} picks a fixed augmentation list, but views=training "
                                      "draws the views with the shadow's own training augmentation; drop ops, or set "
                                      "views=fixed")
        if opts.similarity not in SIMILARITIES:
            raise InvalidOptionsError(f"{self.name}: similarity={opts.similarity!r} is not valid; "
                                      f"valid: {', '.join(SIMILARITIES)}")
        bad = [o for o in opts.ops or () if o not in IMAGE_OPS + AUDIO_OPS]
        if bad:
            raise InvalidOptionsError(f"{self.name}: unknown augmentations {bad}; valid: images "
                                      f"{', '.join(IMAGE_OPS)}; audio {', '.join(AUDIO_OPS)}")
        if getattr(opts, "pooling", "sum") not in ("sum", "mean"):
            raise InvalidOptionsError(f"{self.name}: pooling={opts.pooling!r} is not valid; valid: sum, mean")

    def features(self, encode, media: np.ndarray, ids, seed: int, spec: ViewSpec) -> np.ndarray:
        opts = self.options
        emb = view_embeddings(encode, media, opts.n_views, row_seeds(ids, seed), spec.ops, spec.modality,
                              maker=spec.make)
        return pairwise_similarities(emb, opts.similarity)

    def shadow_features(self, context: AttackContext) -> tuple[np.ndarray, np.ndarray, dict]:
        """Labelled features of shadow members / non-members (and, in ``facts["_groups"]``, each
        row's identity); cached with the shadow encoder."""
        opts = self.options
        build = shadow_builder(context, opts.shadow_target)
        arch = pick_arch(context, opts.know_arch, opts.alt_arch, build)
        target_algorithm = ALGORITHMS.get(context.target_recipe.get("algorithm"), "clip")
        algorithm = target_algorithm if opts.know_algorithm else (opts.alt_algorithm or OTHER_ALGORITHM[target_algorithm])
        pii, background, source = shadow_pool(context, opts.know_data, opts.alt_data)
        shadow = shadow_set(pii, background, opts.shadow_train_photos, context.seed, source)
        spec = resolve_views(opts.views, opts.ops, context.modality, build, context.target_recipe, algorithm)
        encoder = build_shadow_encoder(context, shadow, build, arch, algorithm)
        facts = {"setting": setting_label(opts.know_data, opts.know_arch, opts.know_algorithm), "shadow_arch": arch,
                 "views": spec.label,
                 "shadow_algorithm": algorithm, "shadow_data": source, "shadow_train_pairs": len(shadow.train),
                 "shadow_rows": len(shadow.rows), "shadow_models_trained": int(bool(encoder.info.get("trained_now")))}
        key = stable_hash({"encoder": encoder.fingerprint, "rows": shadow.rows.fingerprint(), "seed": context.seed,
                           "n_views": opts.n_views, "ops": opts.ops, "similarity": opts.similarity,
                           "modality": context.modality, "features": "encodermi/2",
                           # fixed views keep the keys they had before views existed
                           **({} if spec.source == "fixed" else {"views": spec.label})})

        def build_features(work):
            media = shadow.rows.media(context.modality)
            sims = self.features(encoder.encode_media, media, shadow.rows.ids, context.seed, spec)
            np.savez(work / "features.npz", sims=sims, labels=shadow.labels,
                     groups=np.array(shadow.rows.identities, dtype=str))

        path = context.cache.get_or_build("encodermi-features", key, build_features)
        with np.load(path / "features.npz") as z:
            return z["sims"], z["labels"], {**facts, "_groups": z["groups"], "_views": spec, "_key": key}

    def trained_classifier(self, sims: np.ndarray, labels: np.ndarray, groups: np.ndarray, features_key: str,
                           seed: int, run_seed: int) -> tuple:
        """``(classifier, shadow train accuracy, shadow 5-fold accuracy)``, fitted on the shadow
        features. The classifier sees only the shadow encoder, never the target, so a target and
        its null control (same features, same stream) share one fit within a process."""
        key = (type(self).__name__, self.options.model_dump_json(), features_key, seed, run_seed)
        if key not in _FITTED:
            clf = self._classifier(seed).fit(sims, labels)
            _FITTED[key] = (clf, float((clf.decide(sims) == labels).mean()),
                            self.shadow_cv_accuracy(sims, labels, groups, run_seed))
            while len(_FITTED) > _FITTED_MAX:
                _FITTED.popitem(last=False)
        _FITTED.move_to_end(key)
        return _FITTED[key]

    def shadow_cv_accuracy(self, sims: np.ndarray, labels: np.ndarray, groups: np.ndarray, seed: int,
                           folds: int = 5) -> float:
        """Held-out accuracy on the shadow encoder itself (5-fold): how much membership signal
        the features carry before any transfer to the target. In-sample accuracy overstates it;
        folds split by identity, so no person is on both sides."""
        from sklearn.model_selection import StratifiedGroupKFold

        hits = 0
        for train, test in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(sims, labels, groups):
            clf = self._classifier(seed).fit(sims[train], labels[train])
            hits += int((clf.decide(sims[test]) == labels[test]).sum())
        return hits / len(labels)

    def run(self, target, challenge: Challenge, context: AttackContext) -> AttackOutput:
        t0 = time.perf_counter()
        shadow_sims, shadow_labels, facts = self.shadow_features(context)
        groups, spec, features_key = facts.pop("_groups"), facts.pop("_views"), facts.pop("_key")
        clf, shadow_acc, cv_acc = self.trained_classifier(shadow_sims, shadow_labels, groups, features_key,
                                                          int(context.rng.integers(2**31)), context.seed)
        prepared = time.perf_counter()
        s = challenge.samples
        media = s.media(context.modality)
        sims = self.features(target.encode_media, media, s.ids, context.seed, spec)
        scores, decisions = clf.score(sims), clf.decide(sims)
        return AttackOutput(
            scores=np.asarray(scores, np.float64),
            decisions=decisions,
            features={"mean_similarity": sims.mean(1)},
            info={**facts, "shadow_train_accuracy": shadow_acc, "shadow_cv_accuracy": cv_acc,
                  "preparation_seconds": prepared - t0,
                  "audit_seconds": time.perf_counter() - prepared},
        )


_FITTED: OrderedDict = OrderedDict()  # shadow classifiers of this process, most recent last
_FITTED_MAX = 16


class EncoderMIV(_EncoderMI):
    name = "encodermi-v"
    description = "EncoderMI-V: sorted augmentation-similarity vector -> MLP trained on a shadow encoder (Liu et al. 2021)."
    Options = EncoderMIOptions
    classifier = VectorClassifier


class EncoderMISetOptions(EncoderMIOptions):
    pooling: str = Field("sum", description="DeepSets pooling: sum (the paper's set classifier) or mean")


class EncoderMIS(_EncoderMI):
    name = "encodermi-s"
    description = "EncoderMI-S: DeepSets set classifier on augmentation similarities, trained on a shadow encoder."
    Options = EncoderMISetOptions

    def _classifier(self, seed: int):
        return SetClassifier(seed=seed, pooling=self.options.pooling)


class EncoderMIT(_EncoderMI):
    name = "encodermi-t"
    description = "EncoderMI-T: threshold on the mean augmentation similarity, chosen on a shadow encoder."
    Options = EncoderMIOptions
    classifier = ThresholdClassifier
