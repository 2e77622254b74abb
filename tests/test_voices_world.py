"""The pii-voices world: synthetic speakers with the names of pii-faces, and captioned sound events."""

from __future__ import annotations

import json
import re
import string

import numpy as np
import pytest

from mia_bench.errors import InvalidOptionsError
from mia_bench_pii.voices import GENERATOR_VERSION, SOUNDS, VoiceWorldConfig, build_voice_world, render_sound

N, K, SR = 30, 4, 16000
SMALL = VoiceWorldConfig(n_identities=N, clips_per_identity=K, n_background=40)
SPEC = ("pii-voices?n_identities=16&n_members=3&n_nonmembers=3&n_population=3&clips_per_identity=3"
        "&train_photos=2&evidence_photos=1&n_background=8")


@pytest.fixture(scope="module")
def world():
    return build_voice_world(SMALL)


def _f0(clip: np.ndarray, sr: int = SR) -> float:
    """Median autocorrelation pitch (60-400 Hz) of the clip's periodic, non-silent 50 ms frames."""
    w = int(0.05 * sr)
    frames = np.lib.stride_tricks.sliding_window_view(clip.astype(float), w)[:: w // 2]
    frames = frames - frames.mean(1, keepdims=True)
    energy = (frames**2).sum(1)
    frames = frames[energy > 0.05 * energy.max()]
    r = np.fft.irfft(np.abs(np.fft.rfft(frames, 2 * w)) ** 2)[:, :w]
    r = r / r[:, :1]
    lo, hi = sr // 400, sr // 60
    lag = lo + r[:, lo:hi].argmax(1)
    periodic = r[np.arange(len(r)), lag] > 0.5
    return sr / np.median(lag[periodic])


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_deterministic_and_seed_dependent(world):
    again = build_voice_world(SMALL)
    assert again.fingerprint() == world.fingerprint()
    assert np.array_equal(again.pii.audio, world.pii.audio) and np.array_equal(again.background.audio,
                                                                               world.background.audio)
    tiny = VoiceWorldConfig(n_identities=N, clips_per_identity=1, n_background=4, seed=1)
    other = build_voice_world(tiny)
    assert other.fingerprint() != build_voice_world(VoiceWorldConfig(**{**tiny.to_dict(), "seed": 0})).fingerprint()
    assert {i.name for i in other.identities} != {i.name for i in world.identities}


def test_shapes_dtype_rate_range_and_card(world):
    assert world.name == "pii-voices" and world.modality == "audio"
    for part, rows in ((world.pii, N * K), (world.background, 40)):
        assert part.audio.shape == (rows, SR) and part.audio.dtype == np.float32 and part.sample_rate == SR
        assert part.images is None and np.isfinite(part.audio).all()
    peaks = np.abs(world.pii.audio).max(1)
    assert peaks.min() > 0.45 and peaks.max() < 0.93  # 0.65 x 10^(+-3/20): gain varies, never clips
    assert np.abs(world.background.audio).max() <= 0.9
    assert world.card["generator"] == GENERATOR_VERSION == "pii-voices/1" and world.card["config"] == SMALL.to_dict()
    assert world.pii.ids[:2] == ("id0000/c0", "id0000/c1")
    json.dumps({i.id: i.attributes for i in world.identities})  # attributes survive a world save
    assert all({"locale", "sex", "f0_hz", "tract_scale"} <= set(i.attributes) for i in world.identities)
    short = build_voice_world(VoiceWorldConfig(n_identities=2, clips_per_identity=1, n_background=0,
                                               sample_rate=8000, clip_seconds=0.5))
    assert short.pii.audio.shape == (2, 4000) and short.pii.sample_rate == 8000 and short.background.audio is None


def test_captions_are_template_j_with_the_name(world):
    assert world.templates[0] == "This audio is from {name}."
    for template in world.templates:
        assert {field for _, field, _, _ in string.Formatter().parse(template) if field is not None} == {"name"}
    for ident in world.identities:
        rows = world.pii.rows_of(ident.id)
        assert [world.pii.texts[r] for r in rows] == [world.templates[j % len(world.templates)].format(name=ident.name)
                                                     for j in range(K)]


def test_names_are_those_of_pii_faces(world):
    from mia_bench_pii.world import PiiWorldConfig, build_pii_world

    faces = build_pii_world(PiiWorldConfig(n_identities=N, photos_per_identity=1, n_background=0))
    assert [i.name for i in world.identities] == [i.name for i in faces.identities]
    assert [i.attributes["locale"] for i in world.identities] == [i.attributes["locale"] for i in faces.identities]


def test_speakers_differ_in_pitch(world):
    """A clip's pitch points at its speaker: within-speaker spread is ~1 semitone, the speakers span ~19.

    Speakers' F0 is uniform over 85-155 Hz (male, 10.4 semitones) or 165-255 Hz (female, 7.5), half
    each, so a +-2 semitone window around a clip's pitch holds at most ~27% of the speakers: the own
    speaker should be among the nearest 30% for nearly every clip (chance: 30%).
    """
    est = np.array([_f0(c) for c in world.pii.audio]).reshape(N, K)
    f0 = np.array([i.attributes["f0_hz"] for i in world.identities])
    off = np.abs(np.log2(est[:, :, None] / f0[None, None, :]))  # (speaker, clip, candidate) in octaves
    own = off[np.arange(N), :, np.arange(N)]
    rank = (off < own[:, :, None]).sum(-1)
    assert (rank < 0.3 * N).mean() > 0.85, np.sort(rank.ravel())
    assert np.median(np.abs(12 * np.log2(est / f0[:, None]))) < 1.5  # semitones
    female = np.array([i.attributes["sex"] == "female" for i in world.identities])
    assert 0 < female.sum() < N
    assert est[female].mean() > 1.4 * est[~female].mean()  # expected ~1.75 (210 Hz vs 120 Hz)


def test_speakers_differ_in_timbre(world):
    """Nearest neighbour by long-term spectrum (level-free) finds a clip of the same speaker far above chance."""
    from scipy.signal import welch

    f, p = welch(world.pii.audio.astype(float), fs=SR, nperseg=512)
    edges = np.geomspace(150, 7500, 17)
    x = np.log(np.stack([p[:, (f >= a) & (f < b)].mean(1) for a, b in zip(edges[:-1], edges[1:])], 1))
    x -= x.mean(1, keepdims=True)
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    owner = np.repeat(np.arange(N), K)
    chance = (K - 1) / (N * K - 1)
    assert (owner[d.argmin(1)] == owner).mean() > 4 * chance


def test_background_captions_match_their_sounds(world):
    bg = world.background
    assert bg.identities == (None,) * 40 and bg.ids[0] == "bg00000" and len(set(bg.texts)) > 20
    peaks = np.abs(bg.audio).max(1)
    for text, peak in zip(bg.texts, peaks):
        words = _words(text)
        assert len(words & {"quiet", "loud"}) == 1 and len(words & {"low", "high"}) == 1, text
        assert (0.1 <= peak <= 0.25) if "quiet" in words else (0.6 <= peak <= 0.9), (text, peak)
    # pitch: within each kind of sound, every "high" one has a higher spectral centroid than every "low" one
    rng = np.random.default_rng(0)
    pairs = [render_sound(rng, SR, SR // 2) for _ in range(320)]
    kinds = ("beeping", "chirps", "rain", "bell", "knocking", "chord", "engine", "whistle")
    assert len(kinds) == len(SOUNDS)
    spectra = np.abs(np.fft.rfft(np.stack([clip for clip, _ in pairs]), axis=1)) ** 2
    centroid = spectra @ np.fft.rfftfreq(SR // 2, 1 / SR) / spectra.sum(1)
    for kind in kinds:
        mine = np.array([kind in _words(text) for _, text in pairs])
        high = np.array(["high" in _words(text) for _, text in pairs])
        assert (mine & high).sum() >= 5 and (mine & ~high).sum() >= 5, kind
        assert centroid[mine & high].min() > centroid[mine & ~high].max(), kind


def test_hf_round_trip_is_exact(world, tmp_path):
    from mia_bench.hfdata import load_world, save_world

    save_world(world, tmp_path / "w")
    back = load_world(tmp_path / "w")
    assert back.fingerprint() == world.fingerprint() and back.modality == "audio"
    assert np.array_equal(back.pii.audio, world.pii.audio) and back.pii.sample_rate == SR
    assert [i.attributes for i in back.identities] == [i.attributes for i in world.identities]


def test_provider_resolves_builds_and_splits(monkeypatch):
    import mia_bench_pii.voices as voices_module
    from mia_bench.plan import resolve

    provider = resolve("dataset", SPEC)
    assert provider.modality == "audio" and provider.world_key()["generator"] == GENERATOR_VERSION
    world = provider.build_world()
    split = provider.split(world, seed=0)
    pairs, labels = split.challenge("pair")
    assert pairs.samples.audio.shape == (12, SR) and pairs.samples.sample_rate == SR and labels.sum() == 6
    identities, labels = split.challenge("identity")
    assert identities.samples.audio is None and labels.sum() == 3
    first = world.identity(identities.samples.ids[0])
    assert identities.samples.texts[0] == world.templates[0].format(name=first.name)
    assert identities.evidence.audio.shape == (6, SR) and identities.evidence.texts == (None,) * 6
    assert split.train.audio is not None and split.train.sample_rate == SR
    before = provider.world_key()
    monkeypatch.setattr(voices_module, "GENERATOR_VERSION", "pii-voices/999")
    assert provider.world_key() != before  # a new generator never reuses a cached world
    small = resolve("dataset", "pii-voices-small").options
    assert (small.n_identities, small.clips_per_identity, small.train_photos, small.n_background) == (200, 6, 4, 600)


@pytest.mark.parametrize("options, message", [
    ("clips_per_identity=2&train_photos=3", r"clips_per_identity=2 < train_photos=3"),
    ("n_identities=20", r"n_identities=20 is too small for the split, which needs 400"),
    ("sample_rate=4000", r"sample_rate=4000.*greater than or equal to 8000"),
    ("clip_seconds=0.1", r"clip_seconds=0.1.*greater than or equal to 0.25"),
])
def test_bad_options_are_explained(options, message):
    from mia_bench.plan import resolve

    with pytest.raises(InvalidOptionsError, match=message):
        resolve("dataset", f"pii-voices?{options}")
