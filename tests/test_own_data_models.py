"""Own data with real models: a checkpoint trained elsewhere, evaluated with its known
membership, scores exactly as the same model trained here; audio datasets feed CLAP.

The 'elsewhere' model is a micro CLIP trained here and saved as a plain open_clip
checkpoint (a bare state dict: nothing of mia-bench's own format), so the test pins the
whole path a user's checkpoint takes: loader, preprocessing, split, challenge.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from own_data import hf_spec, write_imagefolder, write_metadata

from mia_bench.cache import Cache
from mia_bench.plan import build_plan
from mia_bench.results import load_records, load_scores
from mia_bench.runner import RunConfig, Runner

pytestmark = pytest.mark.slow

TARGET = "clip-micro-vit?epochs=2&batch_size=16&warmup_steps=2"
SPLIT = {"n_members": 6, "n_nonmembers": 6, "n_population": 6, "image_size": 16}


def _run(tmp_path, name, targets, dataset, cache):
    plan = build_plan(["csa"], targets, [dataset], None, [0])
    out = tmp_path / name
    summary = Runner(plan, RunConfig(out, cache, n_boot=50, progress=False)).run()
    assert not summary.errors, summary.errors
    return plan, out, [r.to_json() for r in load_records(out)]  # the records' JSON blocks, by key


def _scores(out, record) -> dict[str, float]:
    arrays = load_scores(out, record["key"])
    return dict(zip(arrays["ids"].tolist(), arrays["scores"].tolist()))


def _plain_checkpoint(record, path):
    import torch

    state = torch.load(record["target"]["info"]["checkpoint"], map_location="cpu", weights_only=True)
    torch.save(state["state_dict"], path)  # a bare state dict, as open_clip users save one
    return path


def _membership_column(split) -> dict[str, str]:
    """The dealt split written down as a member / non-member / population column."""
    labels = {i: "population" for i in split.world.pii.ids}  # population and null fillers: never trained on
    challenged = set(split.identities.samples.ids)
    for ident, row in zip(split.world.pii.identities, split.world.pii.ids):
        if ident in challenged:
            labels[row] = "non-member"
    for row in split.train.ids:
        if row in labels:
            labels[row] = "member"
    return labels


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("known")
    cache = Cache(tmp / "cache")
    rows = write_imagefolder(tmp / "dealt", n_identities=24, photos=4, n_background=24, size=16)
    dealt = hf_spec(tmp / "dealt", **SPLIT)
    plan, out, records = _run(tmp, "here", [TARGET, TARGET + "&control=null"], dealt, cache)
    provider = next(iter(plan.datasets.values())).component
    split = provider.split(provider.build_world(), seed=0)
    labels = _membership_column(split)
    shutil.copytree(tmp / "dealt", tmp / "known")
    write_metadata(tmp / "known", [{**r, "member": labels.get(r["file_name"], "")} for r in rows])
    ckpt = _plain_checkpoint(_one(records, "pair", "none"), tmp / "model.pt")
    null = _plain_checkpoint(_one(records, "pair", "null"), tmp / "null.pt")
    external = f"open_clip:{ckpt}?model=mia-micro-vit&device=cpu&control_checkpoint={null}"
    known_spec = hf_spec(tmp / "known", membership_column="member", **SPLIT)
    _, out2, records2 = _run(tmp, "elsewhere", [external, external + "&control=null"], known_spec, cache)
    return out, records, out2, records2


def _one(records, unit, control):
    (rec,) = [r for r in records if r["cell"]["unit"] == unit and r["cell"]["control"] == control]
    return rec


@pytest.mark.parametrize("unit", ["pair", "identity"])
@pytest.mark.parametrize("control", ["none", "null"])
def test_external_checkpoint_scores_equal_the_trained_here_path(known, unit, control):
    out, records, out2, records2 = known
    here, elsewhere = _scores(out, _one(records, unit, control)), _scores(out2, _one(records2, unit, control))
    assert set(here) == set(elsewhere) and len(here) == (24 if unit == "pair" else 12)  # 6 + 6 people, 2 photos
    ids = sorted(here)
    np.testing.assert_allclose([elsewhere[i] for i in ids], [here[i] for i in ids], rtol=1e-5, atol=1e-6)
    labels_here = dict(zip(load_scores(out, _one(records, unit, control)["key"])["ids"].tolist(),
                           load_scores(out, _one(records, unit, control)["key"])["labels"].tolist()))
    labels_there = dict(zip(load_scores(out2, _one(records2, unit, control)["key"])["ids"].tolist(),
                            load_scores(out2, _one(records2, unit, control)["key"])["labels"].tolist()))
    assert labels_here == labels_there


def test_external_records_say_where_membership_and_the_null_control_come_from(known):
    _, _, _, records2 = known
    rec = _one(records2, "pair", "none")
    assert rec["split"]["config"]["membership"] == "column 'member'"
    assert rec["target"]["info"]["null_control"].startswith("checkpoint ")
    assert _one(records2, "pair", "null")["target"]["info"]["control_checkpoint"].endswith("null.pt")


def test_external_checkpoint_without_null_notes_the_omission(known, tmp_path):
    out, records, _, _ = known
    from mia_bench.target import BuildRequest

    ckpt = _plain_checkpoint(_one(records, "pair", "none"), tmp_path / "m.pt")
    plan = build_plan(["csa"], [f"open_clip:{ckpt}?model=mia-micro-vit&device=cpu"], ["pii-faces-small"])
    builder = next(iter(plan.targets.values())).component
    target = builder.build(BuildRequest(split=None, train=None, seed=0, cache=None, defense=None))
    assert target.info["null_control"].startswith("null control omitted: this model was trained elsewhere")


# --- audio ----------------------------------------------------------------------------
def _voices(n_identities=16, clips=4, n_background=16, rate=8000, seconds=1.0, seed=0):
    """Tone 'voices' (a pitch per person) and noise bursts, as (rows, waveforms)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    rows, waves = [], []
    for i in range(n_identities):
        for j in range(clips):
            f0 = 120 + 15 * i
            waves.append((0.3 * np.sin(2 * np.pi * f0 * t * (1 + 0.01 * j)) + 0.02 * rng.standard_normal(t.size)))
            rows.append({"id": f"v{i:02d}_{j}", "caption": f"This audio is from Speaker{i} Voice{i}.",
                         "identity": f"speaker{i:02d}"})
    for k in range(n_background):
        waves.append(0.2 * rng.standard_normal(t.size))
        rows.append({"id": f"bg{k:03d}", "caption": f"a burst of noise number {k}", "identity": ""})
    return rows, [w.astype(np.float32) for w in waves]


def test_audio_arrays_with_a_rate_column_train_a_clap(tmp_path):
    import datasets

    rows, waves = _voices(rate=8000)
    ds = datasets.Dataset.from_dict({**{k: [r[k] for r in rows] for k in rows[0]}, "audio": waves,
                                     "sr": [8000] * len(rows)})
    ds.save_to_disk(str(tmp_path / "voices"))
    spec = (f"hf:{tmp_path / 'voices'}?audio_column=audio&sample_rate_column=sr&sample_rate=16000&id_column=id"
            "&identity_column=identity&text_column=caption&n_members=4&n_nonmembers=4&n_population=4"
            "&train_photos=2&evidence_photos=2")
    plan, out, records = _run(tmp_path, "audio", ["clap-micro?epochs=1&batch_size=16&warmup_steps=1"], spec,
                              Cache(tmp_path / "cache"))
    provider = next(iter(plan.datasets.values())).component
    world = provider.build_world()
    assert world.modality == "audio" and world.pii.sample_rate == 16000 and world.pii.audio.shape[1] == 16000
    assert len(world.background) == 16 and world.templates == ("This audio is from {name}.",)
    assert {r["split"]["modality"] for r in records} == {"audio"} and len(records) == 2


def test_audio_files_in_a_folder_with_metadata(tmp_path):
    import soundfile

    rows, waves = _voices(n_identities=6, clips=2, n_background=2, rate=16000, seconds=0.5)
    folder = tmp_path / "clips"
    folder.mkdir()
    for r, w in zip(rows, waves):
        soundfile.write(folder / f"{r['id']}.wav", w, 16000)
        r["file"] = f"{r['id']}.wav"
    write_metadata(folder, rows)
    spec = (f"hf:{folder}?audio_column=file&clip_seconds=1.0&identity_column=identity&text_column=caption"
            "&n_members=2&n_nonmembers=2&n_population=0&train_photos=1&evidence_photos=1")
    provider = next(iter(build_plan(["csa"], ["clap-micro"], [spec]).datasets.values())).component
    assert provider.modality == "audio" and provider.check_data()["background_rows"] == 2
    world = provider.build_world()
    assert world.pii.audio.shape == (12, 16000) and world.pii.sample_rate == 16000
    assert np.all(world.pii.audio[:, 8000:] == 0)  # 0.5 s clips zero-padded to clip_seconds=1.0
    np.testing.assert_allclose(world.pii.audio[0, :8000], waves[0], atol=1e-4)  # 16-bit WAV
