"""The embedded synthetic PII world and its HF dataset round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mia_bench.errors import CorruptCacheError
from mia_bench.hfdata import load_world, save_world
from mia_bench_pii.world import PiiWorldConfig, build_pii_world

SMALL = PiiWorldConfig(n_identities=24, photos_per_identity=4, n_background=30)


@pytest.fixture(scope="module")
def world():
    return build_pii_world(SMALL)


def test_deterministic_and_seed_dependent(world):
    assert build_pii_world(SMALL).fingerprint() == world.fingerprint()
    other = build_pii_world(PiiWorldConfig(n_identities=24, photos_per_identity=4, n_background=30, seed=1))
    assert other.fingerprint() != world.fingerprint()


def test_shapes_names_and_captions(world):
    assert world.pii.images.shape == (96, 32, 32, 3) and world.pii.images.dtype == np.uint8
    names = [i.name for i in world.identities]
    assert len({n.lower() for n in names}) == len(names)
    assert len({i.attributes["locale"] for i in world.identities}) >= 5
    for ident, text in zip(world.pii.identities, world.pii.texts):
        assert world.identity(ident).name in text
    assert world.templates[0] == "a photo of {name}."


def test_identities_are_visually_distinguishable(world):
    """Photos of one person are closer to each other than to other people's photos."""
    x = world.pii.images.reshape(24, 4, -1).astype(float)
    within = np.mean([np.linalg.norm(x[i, a] - x[i, b]) for i in range(24) for a in range(4) for b in range(a)])
    means = x.mean(1)
    between = np.mean([np.linalg.norm(means[i] - means[j]) for i in range(24) for j in range(i)])
    per_photo_between = np.mean([np.linalg.norm(x[i, 0] - x[j, 0]) for i in range(24) for j in range(i)])
    assert per_photo_between > 1.15 * within, (per_photo_between, within, between)


def test_background_captions_name_shape_and_colour(world):
    from mia_bench_pii.background import COLOURS, SHAPES

    assert world.background.identities == (None,) * 30
    for text in world.background.texts:
        assert any(s in text for s in SHAPES) and any(c in text for c in COLOURS)


def test_hf_round_trip_is_exact(world, tmp_path):
    save_world(world, tmp_path / "w")
    back = load_world(tmp_path / "w")
    assert back.fingerprint() == world.fingerprint()
    assert np.array_equal(back.pii.images, world.pii.images)


def test_tampered_world_is_detected(world, tmp_path):
    save_world(world, tmp_path / "w")
    meta = json.loads((tmp_path / "w" / "world.json").read_text())
    meta["identities"][0]["name"] = "Someone Else"
    (tmp_path / "w" / "world.json").write_text(json.dumps(meta))
    with pytest.raises(CorruptCacheError, match="does not match its recorded fingerprint"):
        load_world(tmp_path / "w")


def test_world_cache_key_changes_with_the_generator(monkeypatch):
    """A new generator version must never be served a world cached by the old one."""
    import mia_bench_pii.world as world_module
    from mia_bench.plan import build_plan

    provider = next(iter(build_plan(["csa"], ["clip-micro-vit"], ["pii-faces"]).datasets.values())).component
    before = provider.world_key()
    monkeypatch.setattr(world_module, "GENERATOR_VERSION", "pii-faces/999")
    assert provider.world_key() != before and provider.world_key()["generator"] == "pii-faces/999"
