"""Dataset providers: the embedded synthetic PII world, and any HF dataset a user brings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from mia_bench.cache import path_fingerprint
from mia_bench.dataset import DatasetProvider
from mia_bench.errors import InvalidOptionsError, MiaBenchError
from mia_bench.splits import SplitConfig


class PiiFacesOptions(SplitConfig):
    n_identities: int = Field(400, ge=8,
                              description="identities in the world (members + non-members + population + null fillers)")
    photos_per_identity: int = Field(8, ge=1, description="photos rendered per identity")
    n_background: int = Field(2000, ge=0, description="non-PII background image-caption pairs")
    image_size: int = Field(32, ge=16, le=256, description="rendered image side in pixels")
    world_seed: int = Field(0, description="seed of the world generator (the run seed picks the split)")


def check_embedded_split(name: str, o: SplitConfig, per_identity: str) -> None:
    """An embedded world must hold the split: enough identities, and enough photos (clips) each."""
    need = 2 * o.n_members + o.n_nonmembers + o.n_population
    if o.n_identities < need:
        raise InvalidOptionsError(
            f"dataset {name!r}: n_identities={o.n_identities} is too small for the split, which needs "
            f"{need} (2 x n_members + n_nonmembers + n_population). Raise n_identities or lower the others."
        )
    have = getattr(o, per_identity)
    if have < o.train_photos:
        raise InvalidOptionsError(
            f"dataset {name!r}: {per_identity}={have} < train_photos={o.train_photos}; {per_identity} must be "
            f">= train_photos. Raise {per_identity} or lower train_photos."
        )


class PiiFaces(DatasetProvider):
    name = "pii-faces"
    description = ("Embedded synthetic PII world: Faker names (several locales) with procedurally rendered faces, "
                   "captioned photos, plus a background corpus of captioned shapes. Offline, deterministic.")
    Options = PiiFacesOptions
    modality = "image"

    def check(self) -> None:
        check_embedded_split(self.name, self.options, "photos_per_identity")

    def world_key(self) -> dict:
        from .world import GENERATOR_VERSION

        return {**super().world_key(), "generator": GENERATOR_VERSION}  # a new generator never reuses old worlds

    def build_world(self):
        from .world import PiiWorldConfig, build_pii_world

        o = self.options
        return build_pii_world(PiiWorldConfig(
            n_identities=o.n_identities, photos_per_identity=o.photos_per_identity,
            n_background=o.n_background, image_size=o.image_size, seed=o.world_seed,
        ))


class PiiAvatars(PiiFaces):
    name = "pii-avatars"
    description = ("A second embedded synthetic world, a different distribution: Faker names (other locales) with "
                   "cartoon avatars, plus captioned landscapes. EncoderMI's 'data distribution unknown' shadow data.")

    def world_key(self) -> dict:
        from .avatars import GENERATOR_VERSION

        return {**DatasetProvider.world_key(self), "generator": GENERATOR_VERSION}

    def build_world(self):
        from .avatars import AvatarWorldConfig, build_avatar_world

        o = self.options
        return build_avatar_world(AvatarWorldConfig(
            n_identities=o.n_identities, photos_per_identity=o.photos_per_identity,
            n_background=o.n_background, image_size=o.image_size, seed=o.world_seed,
        ))


class PiiVoicesOptions(SplitConfig):
    n_identities: int = Field(400, ge=8,
                              description="identities in the world (members + non-members + population + null fillers)")
    clips_per_identity: int = Field(8, ge=1, description="voice clips synthesised per identity")
    n_background: int = Field(2000, ge=0, description="non-PII background audio-caption pairs (sound events)")
    sample_rate: int = Field(16000, ge=8000, le=48000, description="sample rate of every clip in Hz")
    clip_seconds: float = Field(1.0, ge=0.25, le=10.0, description="length of every clip in seconds")
    world_seed: int = Field(0, description="seed of the world generator (the run seed picks the split)")


class PiiVoices(DatasetProvider):
    name = "pii-voices"
    description = ("Embedded synthetic PII audio world: the Faker names of pii-faces with synthesised voices "
                   "(pitch, vocal tract, timbre, breathiness, rate), captioned clips, plus captioned synthetic "
                   "sound events. Offline, deterministic.")
    Options = PiiVoicesOptions
    modality = "audio"

    def check(self) -> None:
        check_embedded_split(self.name, self.options, "clips_per_identity")

    def world_key(self) -> dict:
        from .voices import GENERATOR_VERSION

        return {**super().world_key(), "generator": GENERATOR_VERSION}

    def build_world(self):
        from .voices import VoiceWorldConfig, build_voice_world

        o = self.options
        return build_voice_world(VoiceWorldConfig(
            n_identities=o.n_identities, clips_per_identity=o.clips_per_identity, n_background=o.n_background,
            sample_rate=o.sample_rate, clip_seconds=o.clip_seconds, seed=o.world_seed,
        ))


class HFOptions(SplitConfig):
    image_column: str = Field("image", description="column holding images")
    text_column: str = Field("text", description="column holding captions")
    identity_column: str | None = Field(None, description="column naming the person (None: each row is its own "
                                                          "unit); rows where it is empty are background pairs")
    name_column: str | None = Field(None, description="column with the person's name (default: the identity value)")
    id_column: str | None = Field(None, description="column of row ids (for members= manifests and reports); default: "
                                                    "the image file name in an imagefolder, else row0000012")
    background_column: str | None = Field(None, description="column marking background (non-PII) rows; default: "
                                                            "identity_column")
    background_value: str | None = Field(None, description="value of background_column that marks a background row "
                                                           "(default: an empty or missing cell)")
    membership_column: str | None = Field(None, description="known membership: column with member / non-member / "
                                                            "population per row, used instead of dealing identities")
    members: str | None = Field(None, description="known membership: a text file with one member row id per line "
                                                  "(every other row is a non-member)")
    audio_column: str | None = Field(None, description="column holding audio (arrays, {array, sampling_rate} or "
                                                       "files); set it for an audio dataset (CLAP targets)")
    sample_rate_column: str | None = Field(None, description="column with each array clip's sample rate in Hz")
    sample_rate: int | None = Field(None, ge=1000, description="rate of array clips without a rate column; clips at "
                                                               "other rates are resampled to it")
    clip_seconds: float | None = Field(None, gt=0, description="cut or zero-pad every clip to this length")
    on_duplicate: Literal["error", "drop", "keep"] = Field("error", description="rows holding the same image/clip: "
                                                           "error, drop (keep the first) or keep")
    split: str = Field("train", description="dataset split to read (imagefolder / hub)")
    image_size: int = Field(32, ge=8, le=1024, description="images are centre-cropped and resized to this side "
                                                          "(at most 1024: every image is held in memory, 3 MB each at 1024)")
    template: str | None = Field(None, description="the PII query sent for identity-level attacks (default: "
                                                   "'a photo of {name}.', for audio 'This audio is from {name}.')")
    n_members: int = Field(100, ge=2, description="member identities (or pairs)")
    n_nonmembers: int = Field(100, ge=2, description="non-member identities (or pairs)")
    n_population: int = Field(100, ge=0, description="identities (or pairs) known to the attacker as non-members")


KNOWN_MEMBERSHIP = ("membership_column", "members")  # split options: they never change the world


class HFDataset(DatasetProvider):
    """hf:PATH (saved with save_to_disk, or an imagefolder with metadata.csv/jsonl) or hf:HUB_ID (online)."""

    name = "hf"
    description = ("Any Hugging Face dataset: hf:/path/saved_to_disk, hf:/path/imagefolder (with metadata.csv/jsonl), "
                   "or hf:org/name from the hub when online; columns mapped with options. Rows without an identity "
                   "are background pairs; membership_column= or members= evaluate a model trained elsewhere.")
    Options = HFOptions
    modality = "image"

    def __init__(self, arg, options):
        super().__init__(arg, options)
        self.modality = "audio" if options.audio_column else "image"

    def check(self) -> None:
        if not self.arg:
            raise InvalidOptionsError("dataset 'hf' needs an argument: hf:/path/to/dataset or hf:org/name")
        if self.options.membership_column and self.options.members:
            raise InvalidOptionsError("dataset 'hf': give the known membership once, with membership_column=COL or "
                                      "members=PATH, not both")

    def check_data(self) -> dict:
        """Read the dataset's columns (no media decoded) and report every problem; see hfworld.check_metadata."""
        from .hfworld import check_metadata

        return check_metadata(self._load(), self.options, f"hf:{self.arg}", self._base_dir())

    def input_fingerprint(self) -> str | None:
        """A local folder's content hash (a hub id names its data: None)."""
        path = Path(self.arg).expanduser()
        return path_fingerprint(path) if path.exists() else None

    def world_key(self) -> dict:
        key = {k: v for k, v in super().world_key().items() if k not in KNOWN_MEMBERSHIP}
        fingerprint = self.input_fingerprint()
        if fingerprint is not None:  # local data: key on its content too, so edits rebuild
            key["content"] = fingerprint
        return key

    def build_world(self):
        from .hfworld import world_from_dataset

        ds = self._load()
        self._check_memory(len(ds))
        return world_from_dataset(ds, self.options, name=f"hf:{self.arg}", base_dir=self._base_dir())

    def _check_memory(self, rows: int) -> None:
        """Decoded images are held in memory: refuse, before decoding, what cannot fit."""
        if self.modality != "image":
            return
        need = rows * self.options.image_size ** 2 * 3
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # not POSIX: no check
            return
        if need > 0.8 * free:
            raise InvalidOptionsError(
                f"dataset 'hf:{self.arg}': {rows} images at image_size={self.options.image_size} need "
                f"{need / 2**30:.1f} GiB in memory, but {free / 2**30:.1f} GiB are free. Lower image_size "
                "(e.g. 32 or 224) or use a smaller dataset.")

    def split(self, world, seed: int):
        o = self.options
        if not (o.membership_column or o.members):
            return super().split(world, seed)
        from mia_bench.splits import known_split

        from .hfworld import _raise, membership_by_id

        labels, problems = membership_by_id(self._load(), o, self._base_dir())
        _raise(f"hf:{self.arg}", problems)
        source = f"column {o.membership_column!r}" if o.membership_column else f"manifest {o.members}"
        return known_split(world, labels, self.split_config(), seed, dataset=self.name, source=source)

    def _base_dir(self) -> Path | None:
        path = Path(self.arg).expanduser()
        return path if path.is_dir() else None

    def _load(self):
        """The dataset, loaded once per provider (check_data, build_world and split all read it)."""
        if getattr(self, "_dataset", None) is None:
            self._dataset = self._read()
        return self._dataset

    def _read(self):
        import datasets

        path = Path(self.arg).expanduser()
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
            ds = datasets.load_from_disk(str(path))
            return ds[self.options.split] if isinstance(ds, datasets.DatasetDict) else ds
        if path.is_dir() and self.options.audio_column:  # a folder of clips: metadata.csv/jsonl names the files
            return _metadata_table(path)
        if path.is_dir():
            return datasets.load_dataset("imagefolder", data_dir=str(path), split=self.options.split)
        if path.suffix or self.arg.startswith((".", "/", "~")):
            raise MiaBenchError(f"dataset 'hf': path {path} does not exist. Pass an existing folder.")
        try:
            return datasets.load_dataset(self.arg, split=self.options.split)
        except Exception as exc:
            offline = os.environ.get("HF_HUB_OFFLINE") == "1"
            raise MiaBenchError(
                f"dataset 'hf': could not load hub dataset {self.arg!r}"
                + (" (HF_HUB_OFFLINE=1: no downloads)" if offline else "")
                + f": {type(exc).__name__}: {str(exc)[:200]}. On a machine with internet run "
                f"`datasets.load_dataset({self.arg!r}, split={self.options.split!r}).save_to_disk(DIR)`, copy DIR "
                "here and pass hf:DIR."
            ) from None


def _metadata_table(path: Path):
    """metadata.csv or metadata.jsonl of a folder as a Dataset (its audio column holds file paths)."""
    import datasets

    for name, builder in (("metadata.csv", "csv"), ("metadata.jsonl", "json")):
        if (path / name).exists():
            return datasets.load_dataset(builder, data_files=str(path / name), split="train")
    raise MiaBenchError(f"dataset 'hf': folder {path} has no metadata.csv or metadata.jsonl. Add one with a row per "
                        "clip (the audio_column holding its file name, relative to the folder), or pass a dataset "
                        "saved with save_to_disk.")
