"""Bringing your own data: background rows, known membership, and errors that name the problem.

Every error a user can hit with their own dataset has a test asserting its text; the
validate-time ones go through ``mia-bench validate`` (columns only: nothing decoded,
nothing trained).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from own_data import hf_spec, write_imagefolder, write_metadata

from mia_bench.cli import _register_commands, cli
from mia_bench.errors import InvalidDataError
from mia_bench.plan import build_plan, check_data

_register_commands()


def _provider(spec):
    plan = build_plan(["csa"], ["clip-micro-vit"], [spec])
    return next(iter(plan.datasets.values())).component


def _validate(spec, *targets):
    args = ["validate", "-a", "csa", "-d", spec]
    for t in targets or ("clip-micro-vit",):
        args += ["-t", t]
    return CliRunner().invoke(cli, args)


# --- background rows ----------------------------------------------------------------
def test_background_rows_are_trained_on_and_never_challenged(tmp_path):
    rows = write_imagefolder(tmp_path / "f", n_identities=12, photos=4, n_background=40)
    provider = _provider(hf_spec(tmp_path / "f"))
    world = provider.build_world()
    background = {r["file_name"] for r in rows if not r["identity"]}
    assert set(world.background.ids) == background and set(world.background.identities) == {None}
    assert world.card["background_rows"] == 40 and world.card["pii_rows"] == 48 and world.card["identities"] == 12
    split = provider.split(world, seed=0)
    trained_bg = set(split.train.ids) & background
    assert len(trained_bg) == 20  # half the background, as for the embedded worlds
    assert trained_bg == set(split.null_train.ids) & background  # the null control trains on the same ones
    challenged = set(split.pairs.samples.ids) | set(split.identities.evidence.ids) | set(split.identities.samples.ids)
    assert not challenged & background
    assert not set(split.auxiliary.population.ids) & background
    assert set(split.auxiliary.population_background.ids) <= background


def test_background_marked_by_a_value_in_another_column(tmp_path):
    rows = write_imagefolder(tmp_path / "f", n_identities=10, photos=4, n_background=6,
                             extra={"kind": lambda r: "object" if not r["identity"] else "person"})
    for r in rows:  # the identity cell of background rows is not empty here: the kind column says it
        r["identity"] = r["identity"] or "nobody"
    write_metadata(tmp_path / "f", rows)
    world = _provider(hf_spec(tmp_path / "f", background_column="kind", background_value="object")).build_world()
    assert len(world.background) == 6 and "nobody" not in {i.id for i in world.identities}


# --- validate-time errors -----------------------------------------------------------
def test_validate_reports_a_missing_column_with_the_columns_that_exist(tmp_path):
    write_imagefolder(tmp_path / "f")
    result = _validate(hf_spec(tmp_path / "f", text_column="text"))
    assert result.exit_code == 2
    assert ("column 'text' (option text_column) is not in the dataset; columns: image, caption, identity. "
            "Set text_column=<one of those>.") in result.output


def test_validate_names_identities_with_too_few_photos(tmp_path):
    rows = write_imagefolder(tmp_path / "f", n_identities=12, photos=4)
    write_metadata(tmp_path / "f", [r for r in rows if r["file_name"] not in ("p005_2.png", "p005_3.png")])
    result = _validate(hf_spec(tmp_path / "f"))
    assert result.exit_code == 2
    assert "1 of 12 identities have fewer than train_photos + evidence_photos (2 + 2) = 4 photos: 'person005' (2)" \
        in result.output
    assert "Lower those options (the smallest identity has 2 photos)" in result.output


def test_validate_reports_too_few_identities_with_the_largest_split_that_fits(tmp_path):
    write_imagefolder(tmp_path / "f", n_identities=12, photos=4)
    result = _validate(hf_spec(tmp_path / "f", n_members=4, n_nonmembers=4, n_population=4))
    assert result.exit_code == 2
    assert "has 12 identities, but the split needs 16" in result.output
    assert "The largest split of these proportions that fits is n_members=3&n_nonmembers=3&n_population=3" \
        in result.output


def test_largest_split_hint_fits_and_keeps_the_shape():
    from mia_bench.splits import SplitConfig, largest_split_hint

    hint = largest_split_hint(300, SplitConfig())  # the issue's case: 300 identities, a 400-identity split
    assert "n_members=75&n_nonmembers=75&n_population=75" in hint


def test_validate_reports_empty_captions(tmp_path):
    rows = write_imagefolder(tmp_path / "f")
    rows[3]["caption"] = ""
    rows[7]["caption"] = "   "
    write_metadata(tmp_path / "f", rows)
    result = _validate(hf_spec(tmp_path / "f"))
    assert result.exit_code == 2
    assert "2 rows have an empty caption (column 'caption'): rows 3 (p000_3.png), 7 (p001_3.png). Write a caption" \
        in result.output


def test_validate_reports_unknown_membership_values(tmp_path):
    write_imagefolder(tmp_path / "f", extra={"member": lambda r: "yes" if r["file_name"].endswith("_0.png")
                                             else ("" if not r["identity"] else "non-member")})
    result = _validate(hf_spec(tmp_path / "f", membership_column="member"), "open_clip:/nonexistent/model.pt")
    assert result.exit_code == 2
    assert "membership column 'member' has values the split does not know: 'yes' (12 rows); valid: member, " \
           "non-member, population. Map each row" in result.output


def test_validate_lists_every_problem_at_once(tmp_path):
    rows = write_imagefolder(tmp_path / "f", n_identities=12, photos=4)
    rows[0]["caption"] = ""
    write_metadata(tmp_path / "f", rows)
    result = _validate(hf_spec(tmp_path / "f", n_members=4, n_nonmembers=4, n_population=4))
    assert "1 rows have an empty caption" in result.output and "but the split needs 16" in result.output


def test_validate_decodes_no_image(tmp_path):
    """A corrupt file passes validate (only columns are read) and is named at load time."""
    write_imagefolder(tmp_path / "f")
    (tmp_path / "f" / "p002_1.png").write_bytes(b"not a png")
    result = _validate(hf_spec(tmp_path / "f"))
    assert result.exit_code == 0, result.output
    assert "rows=58, identities=12, pii_rows=48, background_rows=10" in result.output


def test_validate_accepts_a_good_dataset_and_run_checks_it_before_training(tmp_path, monkeypatch):
    write_imagefolder(tmp_path / "f", n_identities=12, photos=4)
    spec = hf_spec(tmp_path / "f", n_members=4, n_nonmembers=4, n_population=4)
    import mia_bench.runner as runner

    monkeypatch.setattr(runner.Runner, "run", lambda self: pytest.fail("the run started"))
    result = CliRunner().invoke(cli, ["run", "-a", "csa", "-t", "clip-micro-vit", "-d", spec,
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "but the split needs 16" in result.output


# --- load-time errors ---------------------------------------------------------------
def test_corrupt_image_names_its_file_and_row(tmp_path):
    write_imagefolder(tmp_path / "f")
    (tmp_path / "f" / "p002_1.png").write_bytes(b"not a png")
    with pytest.raises(InvalidDataError, match=r"row 9 \(.*p002_1.png\): the image cannot be read .*Replace the file"):
        _provider(hf_spec(tmp_path / "f")).build_world()


def test_duplicate_rows_are_reported_and_can_be_dropped(tmp_path):
    rows = write_imagefolder(tmp_path / "f", n_identities=12, photos=4)
    (tmp_path / "f" / "p004_1.png").write_bytes((tmp_path / "f" / "p004_0.png").read_bytes())
    with pytest.raises(InvalidDataError, match=r"1 groups of rows hold the same image: row 16 \(p004_0.png\) = row 17 "
                                               r"\(p004_1.png\).*set on_duplicate=drop"):
        _provider(hf_spec(tmp_path / "f")).build_world()
    world = _provider(hf_spec(tmp_path / "f", on_duplicate="drop", evidence_photos=1)).build_world()
    assert "p004_1.png" not in world.pii.ids and world.card["duplicate_rows_dropped"] == 1
    assert len(rows) - 1 == len(world.pii) + len(world.background)


# --- known membership ---------------------------------------------------------------
def _member_column(row):
    if not row["identity"]:
        return ""
    person = int(row["identity"][-3:])
    if person < 4:  # members: photos 0-1 trained on, 2-3 held out
        return "member" if row["file_name"].endswith(("_0.png", "_1.png")) else "non-member"
    return "non-member" if person < 9 else "population"


def test_known_membership_column_is_used_instead_of_dealing(tmp_path):
    write_imagefolder(tmp_path / "f", n_identities=12, photos=4, extra={"member": _member_column})
    provider = _provider(hf_spec(tmp_path / "f", membership_column="member", evidence_photos=1))
    world = provider.build_world()
    a, b = provider.split(world, seed=0), provider.split(world, seed=5)
    assert list(a.pair_labels) == list(b.pair_labels) and a.pairs.samples.ids == b.pairs.samples.ids
    members = {f"person{i:03d}" for i in range(4)}
    assert {i for i, l in zip(a.identities.samples.ids, a.identity_labels) if l} == members
    assert {i for i, l in zip(a.identities.samples.ids, a.identity_labels) if not l} == \
        {f"person{i:03d}" for i in range(4, 9)}
    trained = {s for s in a.train.ids if not s.startswith("bg")}
    assert trained == {f"p{i:03d}_{j}.png" for i in range(4) for j in (0, 1)}
    assert {s for s, l in zip(a.pairs.samples.ids, a.pair_labels) if l} == trained
    assert set(a.auxiliary.population.identities) == {f"person{i:03d}" for i in range(9, 12)}
    assert not set(a.identities.evidence.ids) & trained and len(a.identities.evidence) == 9
    assert a.config["membership"] == "column 'member'" and a.config["n_members"] == 4


def test_known_membership_from_a_manifest_of_member_files(tmp_path):
    write_imagefolder(tmp_path / "f", n_identities=12, photos=4)
    manifest = tmp_path / "members.txt"
    manifest.write_text("# trained on\n" + "\n".join(f"p{i:03d}_0.png" for i in range(5)) + "\n")
    provider = _provider(hf_spec(tmp_path / "f", members=manifest, evidence_photos=1))
    split = provider.split(provider.build_world(), seed=0)
    assert int(split.identity_labels.sum()) == 5 and len(split.identity_labels) == 12
    assert {s for s, l in zip(split.pairs.samples.ids, split.pair_labels) if l} == {f"p{i:03d}_0.png" for i in range(5)}


def test_manifest_that_matches_no_row_says_where_ids_come_from(tmp_path):
    write_imagefolder(tmp_path / "f")
    (tmp_path / "m.txt").write_text("img_1.jpg\nimg_2.jpg\n")
    result = _validate(hf_spec(tmp_path / "f", members=tmp_path / "m.txt"), "open_clip:/x/model.pt")
    assert result.exit_code == 2
    assert "none of its 2 ids (e.g. ['img_1.jpg', 'img_2.jpg']) is a row id of the dataset; row ids come from the " \
           "image file names" in result.output and "Set id_column=COL to match." in result.output


def test_pair_level_known_membership_without_identities(tmp_path):
    rows = write_imagefolder(tmp_path / "f", n_identities=0, photos=0, n_background=20,
                             extra={"member": lambda r: "member" if int(r["file_name"][2:6]) % 2 else "non-member"})
    del rows
    provider = _provider(hf_spec(tmp_path / "f", identity_column=None, membership_column="member", train_photos=1,
                                 evidence_photos=0))
    split = provider.split(provider.build_world(), seed=0)
    assert len(split.pairs) == 20 and int(split.pair_labels.sum()) == 10
    assert split.identity_labels.tolist() == split.pair_labels.tolist()  # one row per unit


def test_population_mixed_with_members_is_an_error(tmp_path):
    write_imagefolder(tmp_path / "f", extra={"member": lambda r: "" if not r["identity"] else
                                             ("population" if r["file_name"].endswith("_3.png") else "member")})
    result = _validate(hf_spec(tmp_path / "f", membership_column="member"), "open_clip:/x/model.pt")
    assert result.exit_code == 2
    assert "identity 'person000' has population rows and ['member'] rows" in result.output


def test_null_control_of_an_external_model_needs_its_checkpoint(tmp_path):
    write_imagefolder(tmp_path / "f", extra={"member": _member_column})
    spec = hf_spec(tmp_path / "f", membership_column="member")
    result = _validate(spec, "open_clip:/x/model.pt", "open_clip:/x/model.pt?control=null")
    assert result.exit_code == 2
    assert "is not trained here, so it has no null-target control; pass its owner's null model as " \
           "control_checkpoint=PATH" in result.output
    ok = _validate(spec, "open_clip:/x/model.pt?control_checkpoint=/x/null.pt",
                   "open_clip:/x/model.pt?control_checkpoint=/x/null.pt&control=null")
    assert ok.exit_code == 0, ok.output


def test_check_data_is_a_no_op_for_embedded_worlds():
    plan = build_plan(["csa"], ["clip-micro-vit"], ["pii-faces-small"])
    assert check_data(plan) == {"pii-faces-small": {}}


def test_saved_dataset_with_none_identities(tmp_path):
    """A dataset saved with save_to_disk whose identity column holds None for non-PII rows."""
    import datasets

    rng = np.random.default_rng(0)
    n = 40
    ds = datasets.Dataset.from_dict(
        {"image": [{"bytes": _png(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)), "path": None} for _ in range(n)],
         "text": [f"caption {i}" for i in range(n)],
         "person": [None if i >= 32 else f"x{i // 4}" for i in range(n)]},
        features=datasets.Features({"image": datasets.Image(), "text": datasets.Value("string"),
                                    "person": datasets.Value("string")}))
    ds.save_to_disk(str(tmp_path / "ds"))
    provider = _provider(f"hf:{tmp_path / 'ds'}?identity_column=person&n_members=2&n_nonmembers=2&n_population=2"
                         "&train_photos=2&evidence_photos=2&image_size=8")
    assert provider.check_data()["background_rows"] == 8
    world = provider.build_world()
    assert len(world.background) == 8 and len(world.identities) == 8


def _png(img: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def test_hf_world_round_trips_through_the_cache(tmp_path):
    write_imagefolder(tmp_path / "f", n_background=10)
    from mia_bench.cache import Cache

    provider = _provider(hf_spec(tmp_path / "f"))
    world = provider.load_world(Cache(tmp_path / "cache"))
    again = provider.load_world(Cache(tmp_path / "cache"))
    assert again.fingerprint() == world.fingerprint() and len(again.background) == 10
    assert Path(tmp_path / "cache").exists()


# --- audio columns ------------------------------------------------------------------
def _audio_ds(waves, **columns):
    import datasets

    return datasets.Dataset.from_dict({"audio": [np.asarray(w, np.float32) for w in waves], **columns})


def test_audio_arrays_need_a_rate():
    from mia_bench.hfaudio import decode_audio_column

    with pytest.raises(InvalidDataError, match="row 0: the audio is an array of samples but nothing says its sample "
                                               "rate. Name the column holding it with sample_rate_column=COL"):
        decode_audio_column(_audio_ds([np.zeros(10)]), "audio")


def test_audio_at_mixed_rates_is_resampled_or_named():
    from mia_bench.hfaudio import decode_audio_column

    t = np.arange(8000) / 8000
    ds = _audio_ds([np.sin(2 * np.pi * 440 * t), np.zeros(16000)], sr=[8000, 16000])
    with pytest.raises(InvalidDataError, match=r"different sample rates \[8000, 16000\]; set sample_rate=HZ"):
        decode_audio_column(ds, "audio", sample_rate_column="sr")
    audio, rate = decode_audio_column(ds, "audio", sample_rate_column="sr", sample_rate=16000)
    assert rate == 16000 and audio.shape == (2, 16000)
    spectrum = np.abs(np.fft.rfft(audio[0]))
    assert abs(int(np.argmax(spectrum)) - 440) <= 1  # 1 s at 16 kHz: bin k is k Hz; the tone survives resampling


def test_audio_of_mixed_lengths_needs_clip_seconds():
    from mia_bench.hfaudio import decode_audio_column

    ds = _audio_ds([np.ones(100), np.ones(80)])
    with pytest.raises(InvalidDataError, match=r"different lengths \(80 to 100 samples at 1000 Hz\); set "
                                               "clip_seconds=S"):
        decode_audio_column(ds, "audio", sample_rate=1000)
    audio, _ = decode_audio_column(ds, "audio", sample_rate=1000, clip_seconds=0.09)
    assert audio.shape == (2, 90) and audio[1, 80:].tolist() == [0.0] * 10


def test_unreadable_audio_file_names_its_row(tmp_path):
    import datasets

    from mia_bench.hfaudio import decode_audio_column

    (tmp_path / "a.wav").write_bytes(b"RIFF nonsense")
    ds = datasets.Dataset.from_dict({"audio": ["a.wav"]})
    with pytest.raises(InvalidDataError, match=r"row 0 \(a.wav\): the audio cannot be read .*Replace it with a "
                                               "readable WAV"):
        decode_audio_column(ds, "audio", base_dir=tmp_path)
