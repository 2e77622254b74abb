"""Bringing your own data: the generic `hf` dataset plugin, and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mia_bench.errors import InvalidOptionsError, MiaBenchError
from mia_bench.hfdata import dataset_to_samples, samples_to_dataset
from mia_bench.plan import build_plan
from mia_bench.testing import toy_world


def _provider(spec):
    plan = build_plan(["csa"], ["clip-micro-vit"], [spec])
    return next(iter(plan.datasets.values())).component


def test_saved_to_disk_dataset_with_identities(tmp_path):
    world = toy_world(n_identities=40, photos=3)
    samples_to_dataset(world.pii).save_to_disk(str(tmp_path / "ds"))
    provider = _provider(f"hf:{tmp_path / 'ds'}?identity_column=identity&n_members=10&n_nonmembers=10"
                         "&n_population=10&train_photos=2&evidence_photos=1&image_size=8")
    w = provider.build_world()
    assert len(w.identities) == 40 and len(w.pii) == 120
    split = provider.split(w, seed=0)
    assert split.identity_labels.sum() == 10 and len(split.pairs) == 40


def test_imagefolder_with_metadata(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rows = []
    for i in range(12):
        Image.fromarray(np.full((10, 14, 3), i * 20, np.uint8)).save(folder / f"{i}.png")
        rows.append({"file_name": f"{i}.png", "caption": f"picture {i}", "person": f"p{i // 3}"})
    (folder / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    provider = _provider(f"hf:{folder}?text_column=caption&identity_column=person&image_size=8"
                         "&n_members=2&n_nonmembers=2&n_population=0&train_photos=1&evidence_photos=1")
    w = provider.build_world()
    assert w.pii.images.shape == (12, 8, 8, 3) and set(w.pii.identities) == {"p0", "p1", "p2", "p3"}


def test_missing_column_is_named():
    world = toy_world(n_identities=8, photos=1)
    ds = samples_to_dataset(world.pii)
    with pytest.raises(InvalidOptionsError,
                       match="column 'caption' .option text_column. is not in the dataset; columns: id, identity, text, image"):
        dataset_to_samples(ds, text_column="caption")


def test_mixed_sizes_need_image_size(tmp_path):
    import datasets

    imgs = [Image.new("RGB", (8, 8)), Image.new("RGB", (9, 9))]
    ds = datasets.Dataset.from_dict({"image": imgs, "text": ["a", "b"]}, features=datasets.Features(
        {"image": datasets.Image(), "text": datasets.Value("string")}))
    with pytest.raises(InvalidOptionsError, match="different sizes.*pass image_size"):
        dataset_to_samples(ds)
    assert dataset_to_samples(ds, image_size=4).images.shape == (2, 4, 4, 3)


def test_hub_id_offline_fails_fast_with_advice():
    provider = _provider("hf:someone/some-dataset")
    with pytest.raises(MiaBenchError, match="HF_HUB_OFFLINE=1.*save_to_disk"):
        provider.build_world()


def test_world_without_background_round_trips(tmp_path):
    """A world with no background pairs (e.g. pii-faces?n_background=0) saves and loads."""
    from dataclasses import replace

    from mia_bench.hfdata import load_world, save_world

    world = toy_world(n_identities=6)
    world = replace(world, background=world.background.subset([]))
    save_world(world, tmp_path / "w")
    back = load_world(tmp_path / "w")
    assert len(back.background) == 0 and back.fingerprint() == world.fingerprint()
