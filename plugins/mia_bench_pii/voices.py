"""The embedded synthetic PII audio-text world (``pii-voices``): the audio twin of ``pii-faces``.

It uses the same names as ``pii-faces``, so image and audio results are comparable. A voice
is a source-filter model, a band-limited pulse train plus noise, shaped by formant
envelopes in the STFT domain. That costs one short-time transform per clip, so a default
world renders in seconds, and speakers still differ the way real ones do: pitch,
vocal-tract length, timbre, tilt, breathiness, rate and intonation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property, lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import butter, lfilter
from scipy.signal.windows import hann

from mia_bench.data import Samples, World

from .names import LOCALES, unique_names
from .world import identity_media

GENERATOR_VERSION = "pii-voices/1"
TEMPLATES = (
    "This audio is from {name}.",
    "A recording of {name} speaking.",
    "{name}'s voice.",
    "{name} says a few words.",
    "A short clip of {name} talking.",
    "The voice of {name}, recorded indoors.",
    "{name} speaking into a microphone.",
    "Listen to {name}.",
)
FPS = 200  # frame rate of the articulation tracks (formants, amplitudes, accents)
# noise vs harmonics (an STFT bin holds a whole harmonic but a sliver of white noise), set so that
# /s/ is ~11 dB, /f/ ~28 dB and /h/ ~18 dB below /a/, and breathiness 0.1-0.6 gives HNRs of ~33-17 dB
FRICATION_GAIN = 6.0
ASPIRATION_GAIN = 0.6

# F1..F5 of adult male vowels (Hillenbrand et al. 1995, rounded; F4, F5 nominal): i ɪ ɛ æ ɑ ɔ u ʌ
VOWELS = np.array([(270, 2290, 3010, 3500, 4500), (390, 1990, 2550, 3500, 4500), (530, 1840, 2480, 3500, 4500),
                   (660, 1720, 2410, 3500, 4500), (730, 1090, 2440, 3500, 4500), (570, 840, 2410, 3500, 4500),
                   (300, 870, 2240, 3500, 4500), (640, 1190, 2390, 3500, 4500)], float)
PLOSIVES = {  # voiced, F2 locus (0: the vowel's own), burst centre and bandwidth (Hz)
    "p": (False, 900, 1000, 2000), "b": (True, 900, 1000, 2000), "t": (False, 1800, 4500, 3000),
    "d": (True, 1800, 4500, 3000), "k": (False, 0, 2200, 1000), "g": (True, 0, 2200, 1000),
}
FRICATIVES = {  # voiced, F2 locus, noise centre and bandwidth (Hz), noise level
    "f": (False, 900, 5000, 6000, 0.03), "v": (True, 900, 4000, 5000, 0.02), "s": (False, 1800, 6000, 2500, 0.35),
    "z": (True, 1800, 6000, 2500, 0.25), "sh": (False, 2200, 3200, 1600, 0.4),
}
NASALS = {"m": (250, 1100, 2300, 3300, 4500), "n": (250, 1700, 2500, 3300, 4500)}
APPROXIMANTS = {"l": (360, 1300, 2700, 3500, 4500), "r": (350, 1200, 1600, 3300, 4500),
                "w": (300, 700, 2200, 3300, 4500), "y": (280, 2200, 3000, 3500, 4500)}
ONSETS = (*PLOSIVES, *FRICATIVES, *NASALS, *APPROXIMANTS, "h")
CODAS = ("m", "n", "s", "t", "k")
# articulation track columns: F1..F5, bandwidth factor, voicing, aspiration, frication, its centre, its width, accent
F, BW, AV, ASP, FRIC, FC, FBW, ACCENT = slice(0, 5), 5, 6, 7, 8, 9, 10, 11


@dataclass(frozen=True)
class VoiceWorldConfig:
    n_identities: int = 400
    clips_per_identity: int = 8
    n_background: int = 2000
    sample_rate: int = 16000
    clip_seconds: float = 1.0
    seed: int = 0
    locales: tuple[str, ...] = LOCALES
    templates: tuple[str, ...] = TEMPLATES

    def to_dict(self) -> dict:
        return asdict(self)


def build_voice_world(config: VoiceWorldConfig) -> World:
    """Identities (names, voices, captioned clips) plus captioned sound-event pairs."""
    names = unique_names(config.n_identities, config.seed, config.locales)
    ident_seq, bg_seq = np.random.SeedSequence([config.seed, 0x501CE]).spawn(2)
    n = round(config.sample_rate * config.clip_seconds)

    def person(rng):
        voice = random_voice(rng)
        return voice, lambda rng: render_utterance(voice, rng, config.sample_rate, n)

    identities, clips, columns = identity_media(names, ident_seq, person, config.clips_per_identity,
                                                config.templates, tag="c")
    bg_rng = np.random.default_rng(bg_seq)
    sounds = [render_sound(bg_rng, config.sample_rate, n) for _ in range(config.n_background)]
    background = Samples(tuple(f"bg{i:05d}" for i in range(len(sounds))), (None,) * len(sounds),
                         tuple(text for _, text in sounds), **_audio([clip for clip, _ in sounds], config.sample_rate))
    return World(
        name="pii-voices",
        identities=identities,
        pii=Samples(*columns, **_audio(clips, config.sample_rate)),
        background=background,
        templates=config.templates,
        modality="audio",
        card=_card(config),
    )


def _audio(clips: list[np.ndarray], sample_rate: int) -> dict:
    """Samples' audio fields; none for no clips, as an empty part loads back from a saved world."""
    return {"audio": np.stack(clips), "sample_rate": sample_rate} if clips else {}


def _card(config: VoiceWorldConfig) -> dict:
    return {
        "generator": GENERATOR_VERSION,
        "description": "Synthetic people with Faker names (those of pii-faces) and source-filter synthesised "
                       "voices speaking random syllables, captioned clips, plus captioned synthetic sound events "
                       "(beeps, chirps, rain, bells, knocking, chords, engines, whistles). No real voice is used.",
        "config": config.to_dict(),
    }


# --- voices ----------------------------------------------------------------------------------


def random_voice(rng: np.random.Generator) -> dict:
    """One speaker: sex, pitch, vocal-tract length and timbre, tilt, breathiness, rate, intonation."""
    female = bool(rng.random() < 0.5)
    voice = {
        "sex": "female" if female else "male",
        "f0_hz": rng.uniform(165, 255) if female else rng.uniform(85, 155),
        "tract_scale": (1.17 if female else 1.0) * rng.uniform(0.95, 1.05),  # shorter tract: higher formants
        **{f"f{k}_factor": rng.uniform(0.92, 1.08) for k in range(1, 5)},
        "tilt_db_per_octave": rng.uniform(4.0, 9.0),  # source + radiation roll-off: low is bright
        "breathiness": rng.uniform(0.1, 0.5) + (0.1 if female else 0.0),
        "rate_syll_per_s": rng.uniform(3.0, 6.0),
        "pitch_range_st": rng.uniform(2.0, 7.0),
        "vibrato_hz": rng.uniform(4.0, 7.0),
        "vibrato_cents": rng.uniform(5.0, 25.0),
        "jitter": rng.uniform(0.003, 0.012),
    }
    return {k: v if isinstance(v, str) else float(v) for k, v in voice.items()}


def _formant_scale(voice: dict) -> np.ndarray:
    factors = [voice[f"f{k}_factor"] for k in range(1, 5)] + [1.0]
    return voice["tract_scale"] * np.array(factors)


def render_utterance(voice: dict, rng: np.random.Generator, sample_rate: int, n: int) -> np.ndarray:
    """One clip of ``n`` samples: random syllables, a pitch contour, room noise, float32 peak 0.46-0.92."""
    rate = voice["rate_syll_per_s"] * rng.uniform(0.9, 1.1)
    tracks = _articulation(voice, rng, rate, n / sample_rate)
    f0 = _pitch(voice, rng, tracks[:, ACCENT], sample_rate, n)
    y = _synthesise(voice, rng, tracks, f0, sample_rate)
    room = lfilter([1.0], [1.0, -0.9], rng.standard_normal(n))  # low-frequency-heavy room noise
    y = y + room * (np.std(y) / np.std(room)) * 10 ** (-rng.uniform(25, 40) / 20)
    peak = 0.65 * 10 ** (rng.uniform(-3, 3) / 20)
    return (y * (peak / np.abs(y).max())).astype(np.float32)


def _articulation(voice: dict, rng: np.random.Generator, rate: float, seconds: float) -> np.ndarray:
    """``(frames, 12)`` tracks (columns F..ACCENT) at FPS: segments held, then smoothed into transitions."""
    scale = _formant_scale(voice)
    segments = [_segment(rng.uniform(0.0, 0.2), VOWELS.mean(0) * scale)]  # random start offset
    t = segments[0][0]
    while t < seconds + 0.05:
        syllable = _syllable(rng, voice, scale, rng.uniform(0.8, 1.2) / rate)
        if rng.random() < 0.12:
            syllable.append(_segment(rng.uniform(0.08, 0.25), syllable[-1][1][F]))  # a pause between words
        segments += syllable
        t += sum(d for d, _ in syllable)
    ends = np.round(np.cumsum([d for d, _ in segments]) * FPS).astype(int)
    counts = np.maximum(np.diff(ends, prepend=0), 1)
    tracks = np.repeat(np.stack([row for _, row in segments]), counts, axis=0)[: int(np.ceil(seconds * FPS)) + 2]
    tracks[:, F] = gaussian_filter1d(tracks[:, F], 3.0, axis=0, mode="nearest")  # ~15 ms formant transitions
    tracks[:, BW:ACCENT] = gaussian_filter1d(tracks[:, BW:ACCENT], 0.8, axis=0, mode="nearest")
    tracks[:, ACCENT] = gaussian_filter1d(tracks[:, ACCENT], 8.0, mode="nearest")  # accents: smooth pitch bumps
    return tracks


def _segment(seconds: float, formants, bw=1.0, av=0.0, asp=0.0, fric=0.0, fc=1000.0, fbw=1000.0, accent=0.0):
    return seconds, np.array([*formants, bw, av, asp, fric, fc, fbw, accent], float)


def _syllable(rng: np.random.Generator, voice: dict, scale: np.ndarray, seconds: float) -> list:
    """(consonant) vowel (coda): the vowel takes what the consonants leave of ``seconds``."""
    vowel = VOWELS[rng.integers(len(VOWELS))] * scale
    accent = voice["pitch_range_st"] * rng.uniform(0.5, 1.0) if rng.random() < 0.35 else 0.0
    onset = _consonant(ONSETS[rng.integers(len(ONSETS))], vowel, scale, seconds) if rng.random() < 0.85 else []
    coda = _consonant(CODAS[rng.integers(len(CODAS))], vowel, scale, 0.7 * seconds) if rng.random() < 0.3 else []
    used = sum(d for d, _ in onset + coda)
    return [*onset, _segment(max(0.35 * seconds, seconds - used), vowel, av=1.0, accent=accent), *coda]


def _consonant(symbol: str, vowel: np.ndarray, scale: np.ndarray, seconds: float) -> list:
    """Segments of one consonant next to ``vowel`` (formants already speaker-scaled)."""
    if symbol == "h":
        return [_segment(0.2 * seconds, vowel, asp=0.6)]
    if symbol in NASALS:
        return [_segment(0.22 * seconds, np.array(NASALS[symbol]) * scale, bw=2.5, av=0.6)]
    if symbol in APPROXIMANTS:
        return [_segment(0.18 * seconds, np.array(APPROXIMANTS[symbol]) * scale, av=0.7)]
    size = scale.mean()  # a smaller mouth has higher noise resonances
    if symbol in FRICATIVES:
        voiced, locus, centre, width, level = FRICATIVES[symbol]
        return [_segment(0.3 * seconds, _constriction(vowel, locus * scale[1]), av=0.3 * voiced, fric=level,
                         fc=centre * size, fbw=width * size)]
    voiced, locus, centre, width = PLOSIVES[symbol]
    closed = _constriction(vowel, locus * scale[1])
    return [_segment(0.18 * seconds, closed, av=0.08 * voiced),  # closure (a voice bar when voiced)
            _segment(0.012, closed, fric=0.5, fc=centre * size, fbw=width * size),  # release burst
            _segment(0.015 if voiced else 0.05, vowel, asp=0.5)]  # voice onset time


def _constriction(vowel: np.ndarray, locus: float) -> np.ndarray:
    """Formants at a constriction: F1 lowered, F2 pulled halfway to the place's locus."""
    out = vowel.copy()
    out[0] *= 0.6
    if locus:
        out[1] = (out[1] + locus) / 2
    return out


def _pitch(voice: dict, rng: np.random.Generator, accent: np.ndarray, sample_rate: int, n: int) -> np.ndarray:
    """Per-sample F0: declination + accents + slow wander (semitones), vibrato and jitter."""
    frames = len(accent)
    span = 0.4 * voice["pitch_range_st"]
    wander = gaussian_filter1d(rng.standard_normal(frames), 20.0) * 3.0  # sd ~0.35 semitone
    semitones = np.linspace(span, -span, frames) + accent + wander
    t = np.arange(n) / sample_rate
    f0 = voice["f0_hz"] * 2 ** (np.interp(t * FPS, np.arange(frames), semitones) / 12)
    vibrato = voice["vibrato_cents"] / 1200 * np.sin(2 * np.pi * voice["vibrato_hz"] * t + rng.uniform(0, 2 * np.pi))
    jitter = np.interp(t * FPS, np.arange(frames), rng.normal(0.0, voice["jitter"], frames))
    return f0 * 2 ** vibrato * (1 + jitter)


def _pulses(f0: np.ndarray, sample_rate: int) -> np.ndarray:
    """Harmonics 1..M of the running phase at amplitude 1 each (a Dirichlet kernel: no aliasing)."""
    m = int(0.45 * sample_rate / f0.max())
    x = 2 * np.pi * (np.cumsum(f0) / sample_rate % 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.sin((m + 0.5) * x) / (2 * np.sin(x / 2)) - 0.5
    return np.where(np.isfinite(d), d, m)


@dataclass(frozen=True)
class _Stft:
    """Centred Hann frames, a quarter frame apart, and their weighted overlap-add inverse
    (batched numpy: scipy's ShortTimeFFT transforms frame by frame, slower here)."""

    size: int
    sample_rate: int

    @property
    def hop(self) -> int:
        return self.size // 4

    @cached_property
    def window(self) -> np.ndarray:
        return hann(self.size, sym=False)

    @cached_property
    def freqs(self) -> np.ndarray:
        return np.fft.rfftfreq(self.size, 1 / self.sample_rate)

    def times(self, n: int) -> np.ndarray:
        return np.arange(self._frames(n)) * self.hop / self.sample_rate

    def _frames(self, n: int) -> int:
        return -(-n // self.hop) + 1

    def _padded(self, x: np.ndarray) -> np.ndarray:
        right = (self._frames(len(x)) + 3) * self.hop - len(x) - self.size // 2
        return np.pad(x, (self.size // 2, right))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``(frames, bins)`` spectrum of ``x``."""
        frames = np.lib.stride_tricks.sliding_window_view(self._padded(x), self.size)[:: self.hop]
        return np.fft.rfft(frames * self.window, axis=1)

    def inverse(self, spec: np.ndarray, n: int) -> np.ndarray:
        frames = np.fft.irfft(spec, self.size, axis=1) * self.window
        keep = slice(self.size // 2, self.size // 2 + n)
        return self._overlap_add(frames)[keep] / self._overlap_add(np.broadcast_to(self.window**2, frames.shape))[keep]

    def _overlap_add(self, frames: np.ndarray) -> np.ndarray:
        chunks = frames.reshape(len(frames), 4, self.hop)
        out = np.zeros((len(frames) + 3, self.hop))
        for j in range(4):
            out[j : j + len(frames)] += chunks[:, j]
        return out.ravel()


@lru_cache(maxsize=4)
def _stft(sample_rate: int) -> _Stft:
    return _Stft(2 ** round(np.log2(0.032 * sample_rate)), sample_rate)  # ~32 ms frames


def _synthesise(voice: dict, rng: np.random.Generator, tracks: np.ndarray, f0: np.ndarray,
                sample_rate: int) -> np.ndarray:
    """Shape the pulses and white noise by the frame-wise envelopes, back to a waveform."""
    n = len(f0)
    sft = _stft(sample_rate)
    frame = np.clip(sft.times(n) * FPS, 0, len(tracks) - 1)
    p = np.stack([np.interp(frame, np.arange(len(tracks)), col) for col in tracks.T], axis=1)
    av, asp, fric, fc, fbw = (p[:, [c]] for c in (AV, ASP, FRIC, FC, FBW))  # (frames, 1) each
    f = sft.freqs[None, :]
    tract = _cascade(f, p[:, F], p[:, [BW]])
    source = (1 + (f / 150.0) ** 2) ** (-voice["tilt_db_per_octave"] / 12)  # -tilt dB/octave above 150 Hz
    voiced = av * source * tract
    aspiration = (asp + voice["breathiness"] * av) * np.sqrt(source) * tract
    noisy = ASPIRATION_GAIN * aspiration + FRICATION_GAIN * fric / (1 + ((f - fc) / (fbw / 2)) ** 2)
    spec = sft.forward(_pulses(f0, sample_rate)) * voiced + sft.forward(rng.standard_normal(n)) * noisy
    return sft.inverse(spec, n)


def _cascade(f: np.ndarray, formants: np.ndarray, bw_factor: np.ndarray) -> np.ndarray:
    """``(frames, bins)`` magnitude of cascaded resonators (unit gain at DC), bandwidths 50 Hz + 4%.
    In float32: ample precision for an envelope, and the hot loop of a world build runs 4x faster."""
    formants, bw_factor, f = (x.astype(np.float32) for x in (formants, bw_factor, f))
    half2 = (((50 + 0.04 * formants) * bw_factor / 2) ** 2)[..., None]  # (frames, 5, 1)
    fk = formants[..., None]
    f = f[:, None, :]
    power = (fk**2 + half2) ** 2 / (((f - fk) ** 2 + half2) * ((f + fk) ** 2 + half2))
    return np.sqrt(power.prod(axis=1))


# --- background sound events --------------------------------------------------------------------


def render_sound(rng: np.random.Generator, sample_rate: int, n: int) -> tuple[np.ndarray, str]:
    """One captioned sound event of a kind, pitch (low/high), tempo (slow/fast) and loudness (quiet/loud)."""
    kind = SOUNDS[rng.integers(len(SOUNDS))]
    high, fast, loud = (bool(b) for b in rng.random(3) < 0.5)
    clip, caption = kind(rng, np.arange(n) / sample_rate, high, fast)
    peak = rng.uniform(0.6, 0.9) if loud else rng.uniform(0.1, 0.25)
    return (clip * (peak / np.abs(clip).max())).astype(np.float32), caption.format(loud="loud" if loud else "quiet")


def _onsets(rng: np.random.Generator, fast: bool, t: np.ndarray) -> tuple[np.ndarray, float]:
    """Slightly irregular event times over ``t`` and their mean spacing."""
    period = 1 / (rng.uniform(5.0, 9.0) if fast else rng.uniform(1.5, 3.0))
    times = np.arange(rng.uniform(0.0, 0.15), t[-1], period)
    return np.clip(times + rng.normal(0.0, 0.05 * period, len(times)), 0.0, None), period


def _since(t: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    """Seconds since the latest onset (1000 before the first: every decay has died by then)."""
    latest = np.searchsorted(onsets, t, side="right") - 1
    return np.where(latest >= 0, t - onsets[np.maximum(latest, 0)], 1000.0)


def _gate(since: np.ndarray, length: float, ramp: float = 0.005) -> np.ndarray:
    """1 for ``length`` seconds from each onset, with ``ramp``-second edges; 0 elsewhere."""
    return np.clip(np.minimum(since, length - since) / ramp, 0.0, 1.0)


def _decays(t: np.ndarray, onsets: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """``(samples, len(tau))``: exponential decays (time constants ``tau``), restruck at each onset."""
    strikes = np.zeros(len(t))
    strikes[np.minimum(np.round(onsets / t[1]).astype(int), len(t) - 1)] = 1.0
    return np.stack([lfilter([1.0], [1.0, -np.exp(-t[1] / x)], strikes) for x in tau], axis=1)


def _tones(t: np.ndarray, freqs, amps, rng: np.random.Generator) -> np.ndarray:
    """``(samples, partials)`` sines, random phases, those above 0.45 x the sample rate silenced."""
    freqs, amps = np.asarray(freqs, float), np.asarray(amps, float)
    amps = np.where(freqs < 0.45 / t[1], amps, 0.0)
    return amps * np.sin(2 * np.pi * freqs * t[:, None] + rng.uniform(0, 2 * np.pi, len(freqs)))


def _sweep(t: np.ndarray, freq: np.ndarray) -> np.ndarray:
    return np.sin(2 * np.pi * np.cumsum(freq) * t[1])


def _pitch_word(high: bool) -> str:
    return "high" if high else "low"


def _beeping(rng, t, high, fast):
    freq = rng.uniform(1500, 3000) if high else rng.uniform(300, 600)
    onsets, period = _onsets(rng, fast, t)
    beeps = _tones(t, [freq], [1.0], rng)[:, 0] * _gate(_since(t, onsets), 0.5 * period)
    return beeps, f"a {{loud}} {_pitch_word(high)}-pitched beeping, repeating {'fast' if fast else 'slowly'}."


def _chirps(rng, t, high, fast):
    lo, hi = (1500.0, 3500.0) if high else (200.0, 800.0)
    rising = bool(rng.random() < 0.5)
    onsets, period = _onsets(rng, fast, t)
    since = _since(t, onsets)
    progress = np.clip(since / (0.7 * period), 0.0, 1.0)
    freq = lo * (hi / lo) ** (progress if rising else 1 - progress)  # an exponential sweep per chirp
    chirps = _sweep(t, freq) * _gate(since, 0.7 * period)
    return chirps, (f"{{loud}} {'rising' if rising else 'falling'} chirps in a {_pitch_word(high)} register, "
                    f"repeating {'fast' if fast else 'slowly'}.")


def _rain(rng, t, high, fast):
    centre = rng.uniform(3000, 4500) if high else rng.uniform(500, 900)
    band = butter(2, [centre / 1.5, min(centre * 1.5, 0.45 / t[1])], btype="bandpass", fs=1 / t[1])
    drops = (rng.random(len(t)) < (120 if fast else 25) * t[1]) * rng.uniform(0.2, 1.0, len(t))
    patter = lfilter([1.0], [1.0, -0.95], drops) + 0.3 * rng.standard_normal(len(t))
    return lfilter(*band, patter), (f"the {{loud}} patter of {'heavy' if fast else 'light'} rain, "
                                    f"{'bright and high' if high else 'muffled and low'}-pitched.")


BELL_PARTIALS = np.array([1.0, 2.0, 2.4, 3.0, 4.2, 5.4, 6.8])  # a church bell's inharmonic series, roughly


def _bell(rng, t, high, fast):
    freq = rng.uniform(600, 1200) if high else rng.uniform(150, 300)
    onsets, _ = _onsets(rng, fast, t)
    ring = _tones(t, freq * BELL_PARTIALS, BELL_PARTIALS**-0.7, rng) * _decays(t, onsets, 0.8 / BELL_PARTIALS)
    return ring.sum(axis=1), f"a {{loud}} {_pitch_word(high)}-pitched bell ringing {'rapidly' if fast else 'slowly'}."


def _knocking(rng, t, high, fast):
    freq = rng.uniform(800, 1500) if high else rng.uniform(120, 300)
    onsets, _ = _onsets(rng, fast, t)
    since = _since(t, onsets)
    body = np.sin(2 * np.pi * freq * since) * np.exp(-since / 0.025)  # a wooden resonator, struck
    knocks = body + 0.5 * rng.standard_normal(len(t)) * np.exp(-since / 0.002)  # and the click of the blow
    return knocks, (f"{{loud}} {_pitch_word(high)}-pitched knocking on wood, "
                    f"{'fast and hurried' if fast else 'slow and steady'}.")


def _chord(rng, t, high, fast):
    root = rng.uniform(300, 600) if high else rng.uniform(80, 160)
    minor = bool(rng.random() < 0.5)
    notes = root * 2 ** (np.array([0, 3 if minor else 4, 7]) / 12)
    freqs = (notes[:, None] * np.arange(1, 4)).ravel()  # three organ-like harmonics per note
    onsets, period = _onsets(rng, fast, t)
    chord = _tones(t, freqs, 1 / np.tile(np.arange(1, 4), 3), rng).sum(axis=1)
    return chord * _gate(_since(t, onsets), (0.5 if fast else 0.9) * period, ramp=0.02), (
        f"a {{loud}} {'minor' if minor else 'major'} chord in a {_pitch_word(high)} register, "
        f"{'pulsing fast' if fast else 'played slowly'}.")


def _engine(rng, t, high, fast):
    firing = rng.uniform(70, 120) if high else rng.uniform(25, 45)
    k = np.arange(1, 9)
    rumble = lfilter([1.0], [1.0, -0.98], rng.standard_normal(len(t)))
    hum = _tones(t, firing * k, 1 / k, rng).sum(axis=1) + 0.1 * rumble
    rev = rng.uniform(4, 8) if fast else rng.uniform(0.5, 1.5)
    depth = 0.5 if fast else 0.1
    return hum * (1 + depth * np.sin(2 * np.pi * rev * t)), (
        f"a {{loud}} engine humming at a {_pitch_word(high)} pitch, {'revving fast' if fast else 'idling slowly'}.")


def _whistle(rng, t, high, fast):
    freq = rng.uniform(1800, 3000) if high else rng.uniform(500, 900)
    if fast:  # a trill
        wobble = 0.04 * np.sin(2 * np.pi * rng.uniform(8, 12) * t)
    else:  # a slow glide
        wobble = 0.1 * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t + rng.uniform(0, 2 * np.pi))
    start = rng.uniform(0.0, 0.15)
    tone = _sweep(t, freq * (1 + wobble)) * _gate(t - start, t[-1] - start - rng.uniform(0.0, 0.15), ramp=0.03)
    return tone, f"a {{loud}} {_pitch_word(high)}-pitched whistle, {'trilling fast' if fast else 'long and steady'}."


SOUNDS = (_beeping, _chirps, _rain, _bell, _knocking, _chord, _engine, _whistle)
