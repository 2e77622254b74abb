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
    ident_seq, bg_seq = np.random.SeedSequence([config.seed, 0x9111]).spawn(2)

    def person(rng):
        appearance = random_appearance(rng)
        return appearance, lambda rng: render_face(appearance, rng, config.image_size)

    identities, pii = identity_photos(names, ident_seq, person, config.photos_per_identity, config.templates,
                                      config.image_size)
    return World(
        name="pii-faces",
        identities=identities,
        pii=pii,
        background=_background(config, np.random.default_rng(bg_seq)),
        templates=config.templates,
        modality="image",
        card=_card(config),
    )


def identity_photos(names, seq: np.random.SeedSequence, person, photos: int, templates, size: int
                    ) -> tuple[tuple[Identity, ...], Samples]:
    """Identities and their captioned ``size`` x ``size`` photos (see :func:`identity_media`)."""
    identities, images, columns = identity_media(names, seq, person, photos, templates)
    stacked = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)
    return identities, Samples(*columns, images=stacked)


def identity_media(names, seq: np.random.SeedSequence, person, per_identity: int, templates, tag: str = "p"
                   ) -> tuple[tuple[Identity, ...], list[np.ndarray], tuple[tuple, tuple, tuple]]:
    """Identities, their rendered photos or clips, and the (ids, owners, captions) columns,
    shared by the embedded worlds.

    ``person(rng) -> (attributes, render(rng) -> medium)`` draws one identity from its own
    stream (``seq`` spawns one per name); medium j is ``{id}/{tag}{j}``, captioned with
    template j (cycled).
    """
    identities, media, ids, owners, texts = [], [], [], [], []
    for i, ((name, locale), child) in enumerate(zip(names, seq.spawn(len(names)))):
        rng = np.random.default_rng(child)
        attributes, render = person(rng)
        ident = Identity(f"id{i:04d}", name, {"locale": locale, **attributes})
        identities.append(ident)
        for j in range(per_identity):
            media.append(render(rng))
            ids.append(f"{ident.id}/{tag}{j}")
            owners.append(ident.id)
            texts.append(templates[j % len(templates)].format(name=name))
    return tuple(identities), media, (tuple(ids), tuple(owners), tuple(texts))


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
