"""The embedded synthetic PII image-text world (``pii-faces``): deterministic, offline, seconds."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from mia_bench.data import Identity, Samples, World

from .background import render_background
from .faces import random_appearance, render_face
from .names import LOCALES, unique_names

GENERATOR_VERSION = "pii-faces/1"
TEMPLATES = (
    "a photo of {name}.",
    "{name} in a portrait photo.",
    "a picture of {name}, smiling.",
    "a close-up of {name}'s face.",
    "a headshot of {name}.",
    "{name}, photographed outdoors.",
    "this is {name}.",
    "a portrait of {name} looking at the camera.",
)


@dataclass(frozen=True)
class PiiWorldConfig:
    n_identities: int = 400
    photos_per_identity: int = 8
    n_background: int = 2000
    image_size: int = 32
    seed: int = 0
    locales: tuple[str, ...] = LOCALES
    templates: tuple[str, ...] = TEMPLATES

    def to_dict(self) -> dict:
        return asdict(self)


def build_pii_world(config: PiiWorldConfig) -> World:
    """Identities (names, appearances, captioned photos) plus background pairs."""
    names = unique_names(config.n_identities, config.seed, config.locales)
    root = np.random.SeedSequence([config.seed, 0x9111])
    ident_seq, bg_seq = root.spawn(2)
    identities, images, ids, owners, texts = [], [], [], [], []
    for i, ((name, locale), seq) in enumerate(zip(names, ident_seq.spawn(config.n_identities))):
        rng = np.random.default_rng(seq)
        appearance = random_appearance(rng)
        ident = Identity(f"id{i:04d}", name, {"locale": locale, **appearance})
        identities.append(ident)
        for j in range(config.photos_per_identity):
            images.append(render_face(appearance, rng, config.image_size))
            ids.append(f"{ident.id}/p{j}")
            owners.append(ident.id)
            texts.append(config.templates[j % len(config.templates)].format(name=name))
    pii = Samples(tuple(ids), tuple(owners), tuple(texts), images=np.stack(images))
    return World(
        name="pii-faces",
        identities=tuple(identities),
        pii=pii,
        background=_background(config, np.random.default_rng(bg_seq)),
        templates=config.templates,
        modality="image",
        card=_card(config),
    )


def _background(config: PiiWorldConfig, rng: np.random.Generator) -> Samples:
    pairs = [render_background(rng, config.image_size) for _ in range(config.n_background)]
    n = len(pairs)
    images = np.stack([p[0] for p in pairs]) if pairs else np.zeros((0, config.image_size, config.image_size, 3), np.uint8)
    return Samples(tuple(f"bg{i:05d}" for i in range(n)), (None,) * n, tuple(p[1] for p in pairs), images=images)


def _card(config: PiiWorldConfig) -> dict:
    return {
        "generator": GENERATOR_VERSION,
        "description": "Synthetic people with Faker names and procedurally rendered faces, captioned photos, "
                       "plus captioned shapes-on-textures background pairs. No real person is depicted.",
        "config": config.to_dict(),
    }
