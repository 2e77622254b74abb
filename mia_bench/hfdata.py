"""Conversion between mia-bench data and Hugging Face ``datasets`` (imported lazily).

Worlds are materialised as real HF datasets saved to disk (``Image`` feature, PNG, so
the round trip is exact), which is also how users bring their own data. Audio is stored
as float32 arrays plus a ``sample_rate`` column: the ``Audio`` feature needs torchcodec.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .data import Identity, Samples, World
from .errors import CorruptCacheError, InvalidDataError, InvalidOptionsError


def _png(img: np.ndarray) -> dict:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=1)
    return {"bytes": buf.getvalue(), "path": None}


def samples_to_dataset(samples: Samples):
    """``Samples`` -> ``datasets.Dataset`` with columns id, identity, text (+ image | audio, sample_rate)."""
    import datasets

    columns = {"id": list(samples.ids), "identity": list(samples.identities), "text": list(samples.texts)}
    features = {"id": datasets.Value("string"), "identity": datasets.Value("string"), "text": datasets.Value("string")}
    if samples.images is not None:
        columns["image"] = [_png(im) for im in samples.images]
        features["image"] = datasets.Image()
    if samples.audio is not None:
        columns["audio"] = list(samples.audio)
        columns["sample_rate"] = [samples.sample_rate] * len(samples)
        features["audio"] = datasets.Sequence(datasets.Value("float32"))
        features["sample_rate"] = datasets.Value("int32")
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


def _require(ds, column: str | None, option: str) -> None:
    if column is not None and column not in ds.column_names:
        raise InvalidOptionsError(
            f"column {column!r} (option {option}) is not in the dataset; columns: {', '.join(ds.column_names)}. "
            f"Set {option}=<one of those>."
        )


def _decode_image(value, image_size: int | None, row: int) -> np.ndarray:
    from PIL import Image

    try:
        if isinstance(value, Image.Image):
            img = value
        elif value.get("bytes") is not None:
            img = Image.open(io.BytesIO(value["bytes"]))
        else:  # imagefolder rows point at files
            img = Image.open(value["path"])
        img = img.convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:  # PIL's UnidentifiedImageError is an OSError
        where = value.get("path") if isinstance(value, dict) and value.get("path") else "bytes stored in the dataset"
        raise InvalidDataError(
            f"row {row} ({where}): the image cannot be read ({type(exc).__name__}: {str(exc)[:160]}). "
            "Replace the file with a readable image, or remove its row from the dataset (metadata.csv)."
        ) from None
    if image_size is not None and img.size != (image_size, image_size):
        side = min(img.size)
        left, top = (img.size[0] - side) // 2, (img.size[1] - side) // 2
        img = img.crop((left, top, left + side, top + side)).resize((image_size, image_size), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def identity_value(x) -> str | None:
    """An identity cell as a string; empty, missing (None, NaN) and blank cells are None."""
    if x is None or (isinstance(x, float) and x != x):
        return None
    text = str(x).strip()
    return text or None


def _file_backed(ds, image_column: str | None) -> bool:
    if image_column is None or image_column not in ds.column_names or not len(ds):
        return False
    first = ds.cast_column(image_column, _image_feature(decode=False))[0][image_column]
    return bool(first and first.get("path") and first.get("bytes") is None)


def row_ids(ds, *, id_column: str | None = None, image_column: str | None = None,
            base_dir: Path | None = None) -> tuple[str, ...]:
    """Row ids: the ``id_column`` values; else, for images stored as files (an imagefolder), the file
    name relative to ``base_dir`` (what metadata.csv's ``file_name`` says); else ``row0000012``.
    Reads no image bytes."""
    if id_column:
        return tuple(str(x) for x in ds[id_column])
    if _file_backed(ds, image_column):
        paths = [v["path"] for v in ds.cast_column(image_column, _image_feature(decode=False))[image_column]]
        if base_dir is not None:
            root = Path(base_dir).resolve()
            paths = [os.path.relpath(Path(p).resolve(), root) for p in paths]
        return tuple(Path(p).as_posix() for p in paths)
    return tuple(f"row{i:07d}" for i in range(len(ds)))


def dataset_to_samples(ds, *, image_column: str | None = "image", text_column: str = "text",
                       identity_column: str | None = None, id_column: str | None = None,
                       image_size: int | None = None, audio_column: str | None = None,
                       sample_rate_column: str | None = None, sample_rate: int | None = None,
                       clip_seconds: float | None = None, base_dir: Path | None = None) -> Samples:
    """A HF dataset -> ``Samples``. Images are decoded to RGB uint8 and, with ``image_size``,
    centre-cropped and resized; without it they must all have the same size. Audio: see
    :func:`mia_bench.hfaudio.decode_audio_column`. Empty identity cells become None."""
    for col, opt in ((image_column if audio_column is None else None, "image_column"), (text_column, "text_column"),
                     (identity_column, "identity_column"), (id_column, "id_column"), (audio_column, "audio_column"),
                     (sample_rate_column, "sample_rate_column")):
        _require(ds, col, opt)
    n = len(ds)
    ids = row_ids(ds, id_column=id_column, image_column=None if audio_column else image_column, base_dir=base_dir)
    identities = tuple(identity_value(x) for x in ds[identity_column]) if identity_column else (None,) * n
    texts = tuple(ds[text_column])
    images = audio = rate = None
    if audio_column is None and image_column is not None:
        raw = ds.cast_column(image_column, _image_feature(decode=False))[image_column]
        decoded = [_decode_image(v, image_size, row) for row, v in enumerate(raw)]
        sizes = sorted({im.shape[:2] for im in decoded})
        if len(sizes) > 1:
            raise InvalidOptionsError(
                f"images have different sizes {sizes[:5]}{'...' if len(sizes) > 5 else ''}; pass image_size=N "
                "to centre-crop and resize them to N x N"
            )
        images = np.stack(decoded) if decoded else None
    if audio_column is not None:
        from .hfaudio import decode_audio_column

        audio, rate = decode_audio_column(ds, audio_column, sample_rate_column=sample_rate_column,
                                          sample_rate=sample_rate, clip_seconds=clip_seconds, base_dir=base_dir)
    return Samples(ids, identities, texts, images=images, audio=audio, sample_rate=rate)


def duplicate_groups(samples: Samples) -> list[list[int]]:
    """Groups (of two or more row indices) whose media are byte-identical: the same photo or clip
    listed twice would be a member and a non-member at once, or count twice."""
    media = samples.images if samples.images is not None else samples.audio
    if media is None:
        return []
    seen: dict[bytes, list[int]] = {}
    for i in range(len(samples)):
        seen.setdefault(hashlib.sha256(np.ascontiguousarray(media[i]).tobytes()).digest(), []).append(i)
    return [rows for rows in seen.values() if len(rows) > 1]


def _image_feature(decode: bool):
    import datasets

    return datasets.Image(decode=decode)


def save_world(world: World, path: Path) -> None:
    """Write ``path/{pii,background}`` (HF datasets) and ``path/world.json``, atomically: the
    world is built in a unique temporary folder beside ``path`` and moved into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))  # unique: concurrent saves never collide
    try:
        _write_world(world, tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_world(world: World, folder: Path) -> None:
    import datasets

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # a world save takes about a second: no bars
    try:
        for part, samples in (("pii", world.pii), ("background", world.background)):
            if len(samples):  # an Arrow dataset with no rows does not load back: world.json records it
                samples_to_dataset(samples).save_to_disk(str(folder / part))
    finally:
        if bars:
            datasets.enable_progress_bars()
    meta = {
        "name": world.name,
        "modality": world.modality,
        "templates": list(world.templates),
        "identities": [{"id": i.id, "name": i.name, "attributes": i.attributes} for i in world.identities],
        "card": world.card,
        "fingerprint": world.fingerprint(),
        "background_image_shape": None if world.background.images is None else list(world.background.images.shape[1:]),
        "empty_parts": [part for part, x in (("pii", world.pii), ("background", world.background)) if not len(x)],
    }
    (folder / "world.json").write_text(json.dumps(meta, indent=1, default=str))


def load_world(path: Path) -> World:
    """Inverse of :func:`save_world`; the recomputed fingerprint must match the recorded one."""
    import datasets

    path = Path(path)
    try:
        meta = json.loads((path / "world.json").read_text())
        parts = {}
        for part in ("pii", "background"):
            if part in meta.get("empty_parts", ()):
                shape = meta.get("background_image_shape") if part == "background" else None
                images = None if shape is None else np.zeros((0, *shape), np.uint8)
                parts[part] = Samples((), (), (), images=images)
                continue
            ds = datasets.load_from_disk(str(path / part))
            has_image = "image" in ds.column_names
            s = dataset_to_samples(ds, image_column="image" if has_image else None, identity_column="identity",
                                   id_column="id", audio_column="audio" if "audio" in ds.column_names else None,
                                   sample_rate_column="sample_rate" if "audio" in ds.column_names else None)
            if part == "background" and s.identities:
                s = Samples(s.ids, (None,) * len(s), s.texts, s.images, s.audio, s.sample_rate)
            parts[part] = s
    except (OSError, ValueError, KeyError, IndexError, json.JSONDecodeError) as exc:  # IndexError: an empty part
        raise CorruptCacheError(f"world cache {path} is unreadable ({exc}); delete it to rebuild") from None
    world = World(
        name=meta["name"],
        identities=tuple(Identity(i["id"], i["name"], i.get("attributes", {})) for i in meta["identities"]),
        pii=parts["pii"],
        background=parts["background"],
        templates=tuple(meta["templates"]),
        modality=meta.get("modality", "image"),
        card=meta.get("card", {}),
    )
    if world.fingerprint() != meta["fingerprint"]:
        raise CorruptCacheError(
            f"world cache {path} does not match its recorded fingerprint ({world.fingerprint()} != "
            f"{meta['fingerprint']}); delete it to rebuild"
        )
    return world
