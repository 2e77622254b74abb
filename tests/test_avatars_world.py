"""The pii-avatars world: a second synthetic PII distribution (shadow data when the target's is unknown)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mia_bench_pii.avatars import GENERATOR_VERSION, LOCALES, AvatarWorldConfig, build_avatar_world
from mia_bench_pii.names import LOCALES as FACES_LOCALES

N, K = 50, 8
SMALL = AvatarWorldConfig(n_identities=N, photos_per_identity=K, n_background=40)


@pytest.fixture(scope="module")
def world():
    return build_avatar_world(SMALL)


@pytest.fixture(scope="module")
def faces():
    from mia_bench_pii.world import PiiWorldConfig, build_pii_world

    return build_pii_world(PiiWorldConfig(n_identities=50, n_background=10))


def _pooled(images: np.ndarray) -> np.ndarray:
    """8 x 8 mean-pooled pixels in [0, 1]: ``(N, 192)``."""
    n, s = len(images), images.shape[1]
    return images.reshape(n, 8, s // 8, 8, s // 8, 3).mean(axis=(2, 4)).reshape(n, -1) / 255.0


def _linear_cv_accuracy(a: np.ndarray, b: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([_pooled(a), _pooled(b)])
    y = np.r_[np.ones(len(a)), np.zeros(len(b))]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(cross_val_score(clf, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean())


def test_deterministic_and_seed_dependent(world):
    again = build_avatar_world(SMALL)
    assert again.fingerprint() == world.fingerprint()
    assert np.array_equal(again.pii.images, world.pii.images)
    assert np.array_equal(again.background.images, world.background.images)
    assert again.background.texts == world.background.texts
    other = build_avatar_world(AvatarWorldConfig(n_identities=N, photos_per_identity=K, n_background=40, seed=1))
    assert other.fingerprint() != world.fingerprint()
    assert not np.array_equal(other.pii.images, world.pii.images)
    assert not np.array_equal(other.background.images, world.background.images)
    assert {i.name for i in other.identities} != {i.name for i in world.identities}


def test_shapes_dtypes_and_card(world):
    assert world.name == "pii-avatars" and world.modality == "image"
    assert world.pii.images.shape == (N * K, 32, 32, 3) and world.pii.images.dtype == np.uint8
    assert world.background.images.shape == (40, 32, 32, 3) and world.background.images.dtype == np.uint8
    assert world.card["generator"] == GENERATOR_VERSION == "pii-avatars/1"
    assert world.card["description"] and world.card["config"] == SMALL.to_dict()
    assert len(world.templates) == 8 and all("{name}" in t for t in world.templates)
    assert world.templates[0] == "an avatar of {name}."
    json.dumps({i.id: i.attributes for i in world.identities})  # attributes survive a world save
    big = build_avatar_world(AvatarWorldConfig(n_identities=2, photos_per_identity=2, n_background=2, image_size=48))
    assert big.pii.images.shape == (4, 48, 48, 3) and big.background.images.shape == (2, 48, 48, 3)
    empty = build_avatar_world(AvatarWorldConfig(n_identities=2, photos_per_identity=1, n_background=0))
    assert empty.background.images.shape == (0, 32, 32, 3)


def test_photos_per_identity_ids_and_captions(world):
    assert len(world.identities) == N
    for ident in world.identities:
        rows = world.pii.rows_of(ident.id)
        assert len(rows) == K
        assert [world.pii.ids[r] for r in rows] == [f"{ident.id}/p{j}" for j in range(K)]
        for j, r in enumerate(rows):
            assert world.pii.texts[r] == world.templates[j % len(world.templates)].format(name=ident.name)
        photos = world.pii.images[rows]
        assert all(not np.array_equal(photos[a], photos[b]) for a in range(K) for b in range(a))  # photos vary


def test_names_unique_and_disjoint_from_pii_faces(world, faces):
    names = [i.name.lower() for i in world.identities]
    assert len(set(names)) == len(names)
    assert not set(names) & {i.name.lower() for i in faces.identities}
    locales = {i.attributes["locale"] for i in world.identities}
    assert locales <= set(LOCALES) and not locales & set(FACES_LOCALES) and len(locales) >= 5


def test_avatars_are_a_different_distribution_from_pii_faces(world, faces):
    acc = _linear_cv_accuracy(world.pii.images, faces.pii.images)
    assert acc > 0.9, f"a linear probe tells avatars from pii-faces photos only {acc:.3f} of the time"


def test_landscapes_are_a_different_distribution_from_shapes_on_textures(world):
    from mia_bench_pii.avatars import render_landscape
    from mia_bench_pii.background import render_background

    rng = np.random.default_rng(0)
    landscapes = np.stack([render_landscape(rng, 32)[0] for _ in range(200)])
    shapes = np.stack([render_background(rng, 32)[0] for _ in range(200)])
    acc = _linear_cv_accuracy(landscapes, shapes)
    assert acc > 0.9, f"a linear probe tells landscapes from shapes-on-textures only {acc:.3f} of the time"


def test_photos_of_one_avatar_are_closer_than_photos_of_different_avatars(world):
    x = world.pii.images.reshape(N, K, -1).astype(float)
    within = np.mean([np.linalg.norm(x[i, a] - x[i, b]) for i in range(N) for a in range(K) for b in range(a)])
    between = np.mean([np.linalg.norm(x[i, 0] - x[j, 0]) for i in range(N) for j in range(i)])
    assert between > 1.1 * within, (between, within)
    # and a photo's nearest other photo is mostly of the same avatar (chance: 1 / N)
    flat = x.reshape(N * K, -1)
    sq = (flat ** 2).sum(1)
    d = sq[:, None] + sq[None, :] - 2 * flat @ flat.T
    np.fill_diagonal(d, np.inf)
    owner = np.repeat(np.arange(N), K)
    assert (owner[d.argmin(1)] == owner).mean() > 0.5


def test_background_captions_describe_the_landscape(world):
    from mia_bench_pii.avatars import GROUNDS, SKIES

    bg = world.background
    assert bg.identities == (None,) * 40 and bg.ids[0] == "bg00000"
    assert len(set(bg.texts)) > 30
    for text in bg.texts:
        assert any(phrase in text for _, _, phrase in SKIES.values()), text
        assert any(hilly in text or flat in text for _, hilly, flat in GROUNDS.values()), text
    # compositional: night skies are darker at the top than day skies; seas are bluer than other ground
    from mia_bench_pii.avatars import render_landscape

    rng = np.random.default_rng(1)
    pairs = [render_landscape(rng, 32) for _ in range(300)]
    top = np.array([img[:6].mean() for img, _ in pairs])
    night = np.array(["night" in text for _, text in pairs])
    assert night.any() and (~night).any() and top[night].max() < top[~night].min() + 20
    bottom = np.array([img[-5:, :, 2].astype(float).mean() - img[-5:, :, 0].mean() for img, _ in pairs])
    sea = np.array(["sea" in text for _, text in pairs])
    assert sea.any() and bottom[sea].mean() > bottom[~sea].mean() + 60
