"""The data model: samples, worlds, membership splits and what an attacker is granted.

Everything here is a frozen dataclass over numpy arrays, so it can be hashed into a
content fingerprint, sliced without copies, and handed to plugins without letting them
mutate the runner's ground truth.

Conventions:
- images are ``(N, H, W, 3) uint8`` arrays, audio ``(N, T) float32`` in [-1, 1];
- ``identities[i]`` is the identity id of row i, or ``None`` for non-PII rows;
- labels (``True`` = member) live in :class:`MembershipSplit` and are never part of a
  :class:`Challenge`: the runner holds them, attacks never see them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

Unit = Literal["pair", "identity"]
UNITS: tuple[Unit, ...] = ("pair", "identity")
MODALITIES = ("text", "image", "audio")


def _hash_update_array(h: "hashlib._Hash", arr: np.ndarray | None) -> None:
    if arr is None:
        h.update(b"<none>")
        return
    arr = np.ascontiguousarray(arr)
    h.update(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes())


@dataclass(frozen=True, eq=False)
class Samples:
    """A columnar batch of samples; row i is (ids[i], identities[i], texts[i], images[i], audio[i]).

    ``images``: ``(N, H, W, 3) uint8`` or None. ``audio``: ``(N, T) float32`` or None,
    with ``sample_rate`` set whenever audio is present.
    """

    ids: tuple[str, ...]
    identities: tuple[str | None, ...]
    texts: tuple[str | None, ...]
    images: np.ndarray | None = None
    audio: np.ndarray | None = None
    sample_rate: int | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in ("identities", "texts"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Samples.{name} has {len(getattr(self, name))} rows, ids has {n}")
        if self.images is not None:
            if self.images.ndim != 4 or self.images.shape[0] != n or self.images.shape[-1] != 3:
                raise ValueError(f"Samples.images must be (N={n}, H, W, 3) uint8, got {self.images.shape}")
            if self.images.dtype != np.uint8:
                raise ValueError(f"Samples.images must be uint8, got {self.images.dtype}")
        if self.audio is not None:
            if self.audio.ndim != 2 or self.audio.shape[0] != n:
                raise ValueError(f"Samples.audio must be (N={n}, T) float32, got {self.audio.shape}")
            if not self.sample_rate:
                raise ValueError("Samples.audio is set but sample_rate is not")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def modalities(self) -> frozenset[str]:
        out = set()
        if any(t is not None for t in self.texts):
            out.add("text")
        if self.images is not None:
            out.add("image")
        if self.audio is not None:
            out.add("audio")
        return frozenset(out)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "Samples":
        idx = np.asarray(indices, dtype=np.int64)
        return Samples(
            ids=tuple(self.ids[i] for i in idx),
            identities=tuple(self.identities[i] for i in idx),
            texts=tuple(self.texts[i] for i in idx),
            images=None if self.images is None else self.images[idx],
            audio=None if self.audio is None else self.audio[idx],
            sample_rate=self.sample_rate,
        )

    def without(self, *modalities: str) -> "Samples":
        """A copy with the given modalities removed (how the runner enforces threat models)."""
        return Samples(
            ids=self.ids,
            identities=self.identities,
            texts=(None,) * len(self) if "text" in modalities else self.texts,
            images=None if "image" in modalities else self.images,
            audio=None if "audio" in modalities else self.audio,
            sample_rate=None if "audio" in modalities else self.sample_rate,
        )

    def media(self, modality: str) -> np.ndarray | None:
        """The non-text column of ``modality`` ("image" or "audio"): what a target's media encoder takes."""
        if modality not in ("image", "audio"):
            raise ValueError(f"media modality must be image or audio, got {modality!r}")
        return self.images if modality == "image" else self.audio

    def rows_of(self, identity: str) -> np.ndarray:
        return np.array([i for i, x in enumerate(self.identities) if x == identity], dtype=np.int64)

    @staticmethod
    def concat(parts: Sequence["Samples"]) -> "Samples":
        parts = [p for p in parts if len(p)]
        if not parts:
            return Samples((), (), ())

        def stack(attr: str) -> np.ndarray | None:
            arrays = [getattr(p, attr) for p in parts]
            if all(a is None for a in arrays):
                return None
            if any(a is None for a in arrays):
                raise ValueError(f"cannot concatenate Samples where only some have {attr}")
            return np.concatenate(arrays)

        # audio implies a sample rate (checked in __post_init__): the second test only tells the type checker
        rates = {p.sample_rate for p in parts if p.audio is not None and p.sample_rate is not None}
        if len(rates) > 1:
            raise ValueError(f"cannot concatenate audio with different sample rates {sorted(rates)}")
        return Samples(
            ids=sum((p.ids for p in parts), ()),
            identities=sum((p.identities for p in parts), ()),
            texts=sum((p.texts for p in parts), ()),
            images=stack("images"),
            audio=stack("audio"),
            sample_rate=rates.pop() if rates else None,
        )

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for col in (self.ids, self.identities, self.texts):
            h.update("\x1f".join("\x00" if x is None else x for x in col).encode())
            h.update(b"\x1e")
        _hash_update_array(h, self.images)
        _hash_update_array(h, self.audio)
        h.update(str(self.sample_rate).encode())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Identity:
    """A person in a benchmark world. ``name`` is the PII string an auditor queries with."""

    id: str
    name: str
    attributes: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, eq=False)
class World:
    """Everything a dataset plugin produces, before any membership split.

    ``pii``: photos (or clips) of identities with captions, ``identities[i]`` set.
    ``background``: non-PII pairs, so a target is a general contrastive model.
    ``templates``: caption templates with a ``{name}`` field (``templates[0]`` is the
    canonical query an auditor sends).
    """

    name: str
    identities: tuple[Identity, ...]
    pii: Samples
    background: Samples
    templates: tuple[str, ...]
    modality: Literal["image", "audio"] = "image"
    card: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(self.name.encode())
        h.update("\x1f".join(f"{i.id}={i.name}" for i in self.identities).encode())
        h.update(self.pii.fingerprint().encode())
        h.update(self.background.fingerprint().encode())
        h.update("\x1f".join(self.templates).encode())
        return h.hexdigest()[:16]

    def identity(self, identity_id: str) -> Identity:
        for ident in self.identities:
            if ident.id == identity_id:
                return ident
        raise KeyError(identity_id)


@dataclass(frozen=True, eq=False)
class Challenge:
    """What an attack is asked to score: one row of ``samples`` per membership unit.

    Pair level: each row is an (image|audio, text) pair. Identity level: each row is an
    identity, ``texts[i]`` its canonical PII query and ``identities[i]`` its id, with no
    image or audio; ``evidence`` holds attacker-held photos/clips of those identities
    (never the target's training photos) for attacks that send biometric data. The
    runner strips modalities an attack does not declare, so a text-only attack cannot
    send what it never receives.
    """

    unit: Unit
    samples: Samples
    evidence: Samples | None = None

    def __len__(self) -> int:
        return len(self.samples)


@dataclass(frozen=True, eq=False)
class AuxiliaryData:
    """What the threat model grants the attacker besides the challenge.

    ``population``: samples of identities known to be outside the target's training set,
    from the same distribution (reference data, shadow members/non-members).
    ``population_background``: non-PII pairs known to be outside the training set.
    ``names``: population identity names (candidate pools, plausible-name references).
    ``templates``: the caption templates of the world (public knowledge).
    """

    population: Samples
    population_background: Samples
    names: tuple[str, ...]
    templates: tuple[str, ...]
    shadow_world: "World | None" = None


@dataclass(frozen=True, eq=False)
class MembershipSplit:
    """A world cut into members and non-members, plus what each party may see.

    ``train``: the target's training pairs. ``null_train``: same size and recipe, but
    without any member identity or member pair (the null-target control).
    ``pair_labels`` / ``identity_labels``: ground truth, held by the runner only.
    ``utility``: held-out photos of member identities and held-out background pairs,
    for utility metrics (never used by attacks).
    """

    dataset: str
    seed: int
    world: World
    train: Samples
    null_train: Samples
    pairs: Challenge
    pair_labels: np.ndarray
    identities: Challenge
    identity_labels: np.ndarray
    auxiliary: AuxiliaryData
    utility_pii: Samples
    utility_background: Samples
    config: dict = field(default_factory=dict)

    def challenge(self, unit: Unit) -> tuple[Challenge, np.ndarray]:
        if unit == "pair":
            return self.pairs, self.pair_labels
        if unit == "identity":
            return self.identities, self.identity_labels
        raise ValueError(f"unknown membership unit {unit!r}; valid: {', '.join(UNITS)}")

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(self.world.fingerprint().encode())
        h.update(self.train.fingerprint().encode())
        h.update(self.pairs.samples.fingerprint().encode())
        h.update(self.identities.samples.fingerprint().encode())
        h.update(self.pair_labels.tobytes() + self.identity_labels.tobytes())
        h.update(repr(sorted(self.config.items())).encode())
        return h.hexdigest()[:16]
