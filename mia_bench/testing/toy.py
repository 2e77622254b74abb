"""A toy world, target and plugin: cheap, deterministic, with a planted membership signal.

- :class:`ToyTarget`: a two-tower "model" whose member media embeddings are pulled
  towards their captions, so attacks can be tested in milliseconds without training.
- :func:`toy_world` / :func:`toy_split`: a small identity split over random images.
- :data:`toy_plugin`: registers the ``toy`` dataset and target builder.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
from pydantic import BaseModel, Field

from ..data import Identity, Samples, World
from ..dataset import DatasetProvider
from ..splits import SplitConfig, identity_split
from ..target import BuildRequest, Target, TargetBuilder


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class ToyTarget(Target):
    """Text -> hash-seeded random unit vector; image -> fixed random projection of pixels.

    ``members``: captions whose paired images (``member_images``) get ``strength`` x
    their caption embedding added, a planted memorisation signal. The gradient path is
    the bare projection (differentiable).
    """

    modality = "image"
    capabilities = frozenset({"text", "image", "gradients"})

    def __init__(self, image_shape=(8, 8, 3), dim: int = 16, member_pairs: Samples | None = None,
                 strength: float = 1.0, seed: int = 0):
        import torch

        self.dim, self.strength = dim, strength
        rng = np.random.default_rng(seed)
        self.proj = rng.standard_normal((int(np.prod(image_shape)), dim)).astype(np.float32)
        self._torch_proj = torch.from_numpy(self.proj)
        self.image_shape = image_shape
        self.memory = {}
        if member_pairs is not None:
            assert member_pairs.images is not None, "ToyTarget's member pairs need images"
            for img, text in zip(member_pairs.images, member_pairs.texts):
                self.memory[hashlib.sha1(img.tobytes()).hexdigest()] = text
        memory = hashlib.sha1("".join(sorted(self.memory)).encode()).hexdigest()[:12]  # what it memorised
        self.name, self.fingerprint, self.info = "toy", f"toy-{seed}-{strength}-{memory}", {}

    @property
    def device(self):
        import torch

        return torch.device("cpu")

    def _text_vec(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        return _unit(np.random.default_rng(seed).standard_normal(self.dim))

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._text_vec(t) for t in texts]) if len(texts) else np.zeros((0, self.dim), np.float32)

    def encode_image(self, images: np.ndarray) -> np.ndarray:
        x = images.reshape(len(images), -1).astype(np.float32) / 255 - 0.5
        emb = _unit(x @ self.proj)
        for i, img in enumerate(images):
            text = self.memory.get(hashlib.sha1(img.tobytes()).hexdigest())
            if text is not None:
                emb[i] = _unit(emb[i] + self.strength * self._text_vec(text))
        return emb

    def preprocess_media(self, media: np.ndarray):
        import torch

        return torch.from_numpy(media.astype(np.float32) / 255 - 0.5).permute(0, 3, 1, 2)

    def media_from_unit(self, x):
        return x - 0.5

    def media_features(self, inputs):
        import torch

        x = inputs.permute(0, 2, 3, 1).reshape(inputs.shape[0], -1)
        return torch.nn.functional.normalize(x @ self._torch_proj, dim=-1)

    @property
    def media_input_shape(self):
        h, w, c = self.image_shape
        return (c, h, w)


def toy_world(n_identities: int = 40, photos: int = 4, size: int = 8, seed: int = 0) -> World:
    """Random-noise 'photos' of named identities plus a little background."""
    rng = np.random.default_rng(seed)
    idents = tuple(Identity(f"id{i:04d}", f"Person{i} Name{(i * 7919) % 1000}") for i in range(n_identities))
    rows = [(ident, j) for ident in idents for j in range(photos)]
    pii = Samples(
        ids=tuple(f"{ident.id}/p{j}" for ident, j in rows),
        identities=tuple(ident.id for ident, _ in rows),
        texts=tuple(f"a photo of {ident.name}." for ident, _ in rows),
        images=rng.integers(0, 256, (len(rows), size, size, 3), dtype=np.uint8),
    )
    n_bg = 40
    bg = Samples(
        ids=tuple(f"bg{i:05d}" for i in range(n_bg)),
        identities=(None,) * n_bg,
        texts=tuple(f"a pattern number {i}" for i in range(n_bg)),
        images=rng.integers(0, 256, (n_bg, size, size, 3), dtype=np.uint8),
    )
    return World("toy", idents, pii, bg, ("a photo of {name}.",))


def toy_split(seed: int = 0, n: int = 10, **kw):
    world = toy_world(**kw)
    cfg = SplitConfig(n_members=n, n_nonmembers=n, n_population=n, train_photos=2, evidence_photos=2)
    return identity_split(world, cfg, seed)


TOY_RECIPE = {"name": "toy", "arch": "toy", "algorithm": "clip-contrastive"}


def toy_shadow(samples: Samples, seed: int, cache, *, arch=None, algorithm="clip", recipe=None,
               progress=False) -> ToyTarget:
    """A toy shadow model 'trained' on ``samples`` (it memorises their pairs), for attacks that
    train shadow models; the signature of ``TargetBuilder.build_shadow``."""
    target = ToyTarget(member_pairs=samples.subset([i for i, x in enumerate(samples.texts) if x]), seed=0)
    target.fingerprint = f"toy-shadow-{samples.fingerprint()}-{seed}-{arch}-{algorithm}"
    target.info = {"trained_now": True, "arch": arch, "algorithm": algorithm}
    return target


# --- a toy dataset and target builder, registered by :data:`toy_plugin` -------------


class ToyDatasetOptions(SplitConfig):
    n_members: int = Field(10, ge=2)
    n_nonmembers: int = Field(10, ge=2)
    n_population: int = Field(10, ge=0)
    train_photos: int = Field(2, ge=1)
    evidence_photos: int = Field(2, ge=0)
    n_identities: int = Field(40, ge=8)


class ToyDataset(DatasetProvider):
    name = "toy"
    description = "Random-noise photos of named identities (tests only)."
    Options = ToyDatasetOptions
    options: ToyDatasetOptions

    def cacheable(self) -> bool:
        return False

    def build_world(self) -> World:
        return toy_world(n_identities=self.options.n_identities)


class ToyBuilderOptions(BaseModel):
    strength: float = Field(1.0, description="planted memorisation strength")


class ToyTargetBuilder(TargetBuilder):
    name = "toy"
    description = "ToyTarget 'trained' on the split: members get a planted signal (tests only)."
    Options = ToyBuilderOptions
    options: ToyBuilderOptions
    trains_on_split = True
    builds: list = []  # every build request, so tests can assert what was (re)built

    def capabilities(self, modality: str) -> frozenset[str]:
        return frozenset({"text", "image", "gradients"})

    def build(self, request: BuildRequest) -> Target:
        ToyTargetBuilder.builds.append(request.control)
        assert request.train is not None  # trains_on_split: the runner always passes the split's training pairs
        return ToyTarget(member_pairs=request.train.subset(
            [i for i, x in enumerate(request.train.identities) if x is not None]), strength=self.options.strength)


class _ToyPlugin:
    from ..hookspecs import hookimpl as _hookimpl

    @staticmethod
    @_hookimpl
    def register_datasets(register):
        register(ToyDataset)

    @staticmethod
    @_hookimpl
    def register_targets(register):
        register(ToyTargetBuilder)


toy_plugin = _ToyPlugin()
