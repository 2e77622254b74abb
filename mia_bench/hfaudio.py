"""Audio columns of a user's HF dataset -> one ``(N, T) float32`` array at one sample rate.

A cell may hold the waveform itself (a list of floats, with the rate in a column or the
``sample_rate`` option), the ``Audio`` feature's decoded form (``{"array", "sampling_rate"}``),
or a file: a path string (relative to the dataset folder) or ``{"path", "bytes"}`` (the
``Audio`` feature undecoded; decoding it through ``datasets`` would need torchcodec, so
files are read with soundfile instead). Clips at another rate are resampled (polyphase)
to ``sample_rate`` when it is given; clips of different lengths are cut or zero-padded to
``clip_seconds`` when it is given. Without those options mixed rates or lengths are an
error that says which option to set.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import InvalidDataError


def _undecoded(ds, column: str):
    import datasets

    if isinstance(ds.features.get(column), datasets.Audio):
        return ds.cast_column(column, datasets.Audio(decode=False))
    return ds


def _read_file(value, row: int, base_dir: Path | None) -> tuple[np.ndarray, int]:
    import soundfile

    path = value if isinstance(value, str) else value.get("path")
    data = None if isinstance(value, str) else value.get("bytes")
    try:
        if data is not None:
            wav, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
        else:
            file = Path(path)
            if not file.is_absolute() and base_dir is not None:
                file = Path(base_dir) / file
            wav, rate = soundfile.read(str(file), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError or OSError
        raise InvalidDataError(
            f"row {row} ({path or 'bytes stored in the dataset'}): the audio cannot be read "
            f"({type(exc).__name__}: {str(exc)[:160]}). Replace it with a readable WAV/FLAC/OGG file, "
            "or remove its row from the dataset."
        ) from None
    return wav.mean(axis=1), int(rate)  # mono: the mean of the channels


def _clip(value, row: int, rates: list | None, default_rate: int | None, base_dir: Path | None):
    if isinstance(value, str) or (isinstance(value, dict) and ("path" in value or "bytes" in value)
                                  and value.get("array") is None):
        return _read_file(value, row, base_dir)
    if isinstance(value, dict):  # the Audio feature's decoded form
        return np.asarray(value["array"], dtype=np.float32), int(value["sampling_rate"])
    rate = rates[row] if rates is not None else default_rate
    if not rate:
        raise InvalidDataError(
            f"row {row}: the audio is an array of samples but nothing says its sample rate. Name the column "
            "holding it with sample_rate_column=COL, or give the rate of every clip with sample_rate=HZ."
        )
    wav = np.asarray(value, dtype=np.float32)
    if wav.ndim != 1:
        wav = wav.reshape(wav.shape[0], -1).mean(axis=0) if wav.ndim == 2 else wav.ravel()
    return wav, int(rate)


def _resample(wav: np.ndarray, rate: int, to: int) -> np.ndarray:
    from scipy.signal import resample_poly

    ratio = Fraction(to, rate).limit_denominator(1000)
    return resample_poly(wav, ratio.numerator, ratio.denominator).astype(np.float32)


def _fit_length(clips: list[np.ndarray], rate: int, clip_seconds: float | None) -> np.ndarray:
    lengths = sorted({len(c) for c in clips})
    if clip_seconds is None:
        if len(lengths) > 1:
            raise InvalidDataError(
                f"clips have different lengths ({lengths[0]} to {lengths[-1]} samples at {rate} Hz); set "
                "clip_seconds=S to cut or zero-pad every clip to S seconds."
            )
        return np.stack(clips) if clips else np.zeros((0, 0), np.float32)
    n = int(round(clip_seconds * rate))
    out = np.zeros((len(clips), n), np.float32)
    for i, c in enumerate(clips):
        out[i, : min(n, len(c))] = c[:n]
    return out


def decode_audio_column(ds, column: str, *, sample_rate_column: str | None = None, sample_rate: int | None = None,
                        clip_seconds: float | None = None, base_dir: Path | None = None) -> tuple[np.ndarray, int]:
    """``(N, T) float32`` clips in [-1, 1] and their common sample rate (see the module doc)."""
    ds = _undecoded(ds, column)
    rates = [int(r) for r in ds[sample_rate_column]] if sample_rate_column else None
    clips, clip_rates = [], []
    for row, value in enumerate(ds[column]):
        wav, rate = _clip(value, row, rates, sample_rate, base_dir)
        clips.append(wav)
        clip_rates.append(rate)
    distinct = sorted(set(clip_rates))
    target = sample_rate or (distinct[0] if len(distinct) == 1 else None)
    if target is None:
        raise InvalidDataError(
            f"clips have different sample rates {distinct}; set sample_rate=HZ (e.g. sample_rate={distinct[-1]}) "
            "to resample every clip to one rate."
        )
    clips = [c if r == target else _resample(c, r, target) for c, r in zip(clips, clip_rates)]
    audio = _fit_length(clips, target, clip_seconds)
    return np.clip(audio, -1.0, 1.0, out=audio), int(target)
