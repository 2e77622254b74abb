"""Target models: two-tower contrastive models (CLIP: text+image, CLAP: text+audio).

Two classes:
- :class:`TargetBuilder` (registered by plugins): knows from a spec alone what the
  target will expose (capabilities, checked before any weights load) and how to build
  it, training it first when it is trained here.
- :class:`Target` (what attacks use): batched, L2-normalised encoders plus a gradient
  path for white-box attacks. "media" means the non-text modality of the target
  (image for CLIP, audio for CLAP), so attacks can be written once for both.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Sequence, cast

import numpy as np

from .errors import MiaBenchError, ThreatModelViolation

if TYPE_CHECKING:  # heavy imports stay lazy
    import torch
    from pydantic import BaseModel

    from .cache import Cache
    from .data import MembershipSplit, Samples
    from .defense import Defense

CAPABILITIES = ("text", "image", "audio", "gradients")


def pick_device(choice: str = "auto") -> "torch.device":
    """``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda[:N]``."""
    import torch

    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def weights_fingerprint(model: "torch.nn.Module") -> str:
    """Content hash of a torch model's weights: equal weights -> equal fingerprint."""
    import hashlib

    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class TokenMemo:
    """A tokenizer memoised per string. Text tokenizers of CLIP-style models are pure Python
    (ftfy + regex) and cost about a quarter of a micro model's text embedding, while
    attacks send the same strings again and again. ``limit`` strings (about 60 MB of int64
    token rows at 200,000) before the memo starts over."""

    def __init__(self, tokenizer, limit: int = 200_000):
        self.tokenizer = tokenizer
        self.limit = limit
        self._memo: dict = {}

    def __call__(self, texts: Sequence[str]) -> "torch.Tensor":
        import torch

        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            if len(self._memo) > self.limit:
                self._memo.clear()
            self._memo.update(zip(missing, self.tokenizer(missing)))
        return torch.stack([self._memo[t] for t in texts])


class Target(ABC):
    """A loaded contrastive model. Embeddings: ``(N, D) float32``, rows L2-normalised.

    Subclasses set ``name``, ``fingerprint``, ``modality`` ("image" or "audio"),
    ``capabilities`` and implement the encoders. The gradient path works on
    preprocessed tensors: ``preprocess_media`` maps raw samples (uint8 images or float
    waveforms) to the model's input tensor, ``media_features`` maps such a tensor to
    normalised embeddings with autograd, so inversion attacks can optimise inputs.
    """

    name: str
    fingerprint: str
    modality: str
    capabilities: frozenset[str]
    info: dict

    @property
    @abstractmethod
    def device(self) -> "torch.device": ...

    @abstractmethod
    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """``(N,) str -> (N, D) float32``, L2-normalised."""

    def encode_image(self, images: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3) uint8 -> (N, D) float32``, L2-normalised."""
        raise MiaBenchError(f"Target {self.name!r} has no image encoder (capabilities: {sorted(self.capabilities)}).")

    def encode_audio(self, audio: np.ndarray) -> np.ndarray:
        """``(N, T) float32 -> (N, D) float32``, L2-normalised."""
        raise MiaBenchError(f"Target {self.name!r} has no audio encoder (capabilities: {sorted(self.capabilities)}).")

    def encode_media(self, media: np.ndarray) -> np.ndarray:
        """The non-text encoder of this target (image for CLIP, audio for CLAP)."""
        return self.encode_image(media) if self.modality == "image" else self.encode_audio(media)

    # --- gradient path (capability "gradients") ---------------------------------
    def preprocess_media(self, media: np.ndarray) -> "torch.Tensor":
        """Raw samples -> model input tensor on ``self.device`` (e.g. ``(N, 3, H, W)`` normalised)."""
        raise MiaBenchError(f"Target {self.name!r} has no gradient path.")

    def media_features(self, inputs: "torch.Tensor") -> "torch.Tensor":
        """Model input tensor -> ``(N, D)`` normalised embeddings, differentiable."""
        raise MiaBenchError(f"Target {self.name!r} has no gradient path.")

    def media_from_unit(self, x: "torch.Tensor") -> "torch.Tensor":
        """Differentiable map from the natural range (pixels ``(N, 3, H, W)`` in [0, 1]; waveforms
        ``(N, T)`` in [-1, 1]) to model inputs, so inversion can optimise valid media."""
        raise MiaBenchError(f"Target {self.name!r} has no gradient path.")

    def text_features(self, texts: Sequence[str]) -> "torch.Tensor":
        """``(N, D)`` normalised text embeddings as a tensor on ``self.device`` (no grad)."""
        import torch

        return torch.from_numpy(self.encode_text(texts)).to(self.device)

    @property
    def media_input_shape(self) -> tuple[int, ...]:
        """Shape of one preprocessed input, e.g. ``(3, 32, 32)``."""
        raise MiaBenchError(f"Target {self.name!r} has no gradient path.")

    @property
    def unit_shape(self) -> tuple[int, ...]:
        """Shape of one sample in the natural range that ``media_from_unit`` takes (pixels
        ``(3, H, W)``, a waveform ``(T,)``); the model input's shape unless they differ."""
        return self.media_input_shape

    @property
    def logit_scale(self) -> float:
        return 100.0

    # Rows per batched forward/backward that run fastest on this target (inversion attacks chunk
    # their rows by it unless told otherwise): a target whose kernels slow down on big batches lowers it.
    gradient_batch: int = 1024


@dataclass
class BuildRequest:
    """What a builder gets to build one target.

    ``train``: the pairs to train on (the split's members, or the null control's set);
    ``split``: the membership split (None for pretrained targets evaluated standalone);
    ``control``: "none" or "null"; ``seed``: the run seed; ``defense``: the defense in
    force (it may change the recipe or pick a checkpoint).
    """

    split: "MembershipSplit | None"
    train: "Samples | None"
    seed: int
    cache: "Cache"
    defense: "Defense"
    control: str = "none"
    progress: bool = True
    extra: dict = field(default_factory=dict)


class TargetBuilder(ABC):
    """Registered by plugins; one instance per target spec in a run."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type["BaseModel"] | None] = None
    trains_on_split: ClassVar[bool] = False

    def __init__(self, arg: str | None, options: "BaseModel"):
        self.arg = arg
        self.options = options

    @abstractmethod
    def capabilities(self, modality: str) -> frozenset[str]:
        """What the target will expose, decided from the spec alone (no weights loaded)."""

    def check(self) -> None:
        """Validate the spec cheaply (e.g. that an architecture name exists). Raise on error."""

    def input_fingerprint(self) -> str | None:
        """A content hash of the local files the spec names (a checkpoint), or None when the
        spec alone determines the target (trained here, keyed by content already). It joins
        the cell keys, so a file replaced in place is recomputed, never resumed."""
        return None

    @abstractmethod
    def build(self, request: BuildRequest) -> Target:
        """Return the loaded target, training (or loading it from the cache) as needed."""

    def recipe(self) -> dict:
        """JSON-able description of how this target is made (recorded in results)."""
        return {"name": self.name, "arg": self.arg, "options": self.options.model_dump() if self.options else {}}


class MeteredTarget(Target):
    """Wraps a target for one attack: counts queries and enforces the threat model.

    ``allow_media``: False for attacks that declare they send no biometric data; any
    call to the real-media encoders then raises :class:`ThreatModelViolation`.
    The gradient path stays open (inversion optimises synthetic inputs).
    """

    def __init__(self, inner: Target, attack_name: str, allow_media: bool):
        self._inner = inner
        self._attack = attack_name
        self._allow_media = allow_media
        self._lock = threading.Lock()
        self.counts = {"text": 0, "image": 0, "audio": 0, "gradient_forward": 0}
        self.name, self.fingerprint, self.modality = inner.name, inner.fingerprint, inner.modality
        self.capabilities, self.info = inner.capabilities, inner.info

    def _count(self, key: str, n: int) -> None:
        with self._lock:
            self.counts[key] += n

    def _guard(self, modality: str) -> None:
        if not self._allow_media:
            raise ThreatModelViolation(
                f"Attack {self._attack!r} declares that it sends no biometric data, but it called "
                f"encode_{modality} on the target. Declare inputs including 'media' in the attack class "
                "if it needs the person's images or audio."
            )

    @property
    def device(self):
        return self._inner.device

    def encode_text(self, texts):
        self._count("text", len(texts))
        return self._inner.encode_text(texts)

    def encode_image(self, images):
        self._guard("image")
        self._count("image", len(images))
        return self._inner.encode_image(images)

    def encode_audio(self, audio):
        self._guard("audio")
        self._count("audio", len(audio))
        return self._inner.encode_audio(audio)

    def preprocess_media(self, media):
        return self._inner.preprocess_media(media)

    def media_features(self, inputs):
        self._count("gradient_forward", int(inputs.shape[0]))
        return self._inner.media_features(inputs)

    def media_from_unit(self, x):
        return self._inner.media_from_unit(x)

    def text_features(self, texts):
        self._count("text", len(texts))
        return self._inner.text_features(texts)

    @property
    def media_input_shape(self):
        return self._inner.media_input_shape

    @property
    def unit_shape(self):
        return self._inner.unit_shape

    @property
    def logit_scale(self) -> float:
        return self._inner.logit_scale

    @property
    def gradient_batch(self) -> int:  # type: ignore[override]
        return self._inner.gradient_batch

    def __getattr__(self, item: str) -> Any:  # plugin-specific extras pass through
        return getattr(self._inner, item)

    @property
    def total_queries(self) -> int:
        return sum(self.counts.values())


# --- models trained elsewhere --------------------------------------------------------
NO_CONTROL_NOTE = ("null control omitted: this model was trained elsewhere, so mia-bench cannot train its null "
                   "twin; pass control_checkpoint=PATH (the same recipe trained without the members) to add one")


class ExternalOptions(Protocol):
    """What :func:`external_control` reads from the options of a model trained elsewhere."""

    control_checkpoint: str | None


def external_control(builder: "TargetBuilder", request: BuildRequest) -> tuple[str | None, dict]:
    """The checkpoint to load for this request (None: the target's own) and what to record about
    the null control: a model trained elsewhere has one only when its owner supplies it.
    ``builder.options`` must have a ``control_checkpoint`` field (:class:`ExternalOptions`)."""
    ckpt = cast(ExternalOptions, builder.options).control_checkpoint
    if request.control == "null":
        if not ckpt:  # plan validation rejects this cell first; kept for direct callers
            raise MiaBenchError(f"target {builder.name}:{builder.arg} has no null control: {NO_CONTROL_NOTE}")
        return ckpt, {"control": "null", "control_checkpoint": ckpt}
    return None, {"control": "none", "null_control": f"checkpoint {ckpt}" if ckpt else NO_CONTROL_NOTE}
