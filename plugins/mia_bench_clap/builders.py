"""Target builders: small CLAPs trained here (one per registered config) and pretrained
LAION-CLAP checkpoints from a local file (``laion_clap:/path/to/630k-audioset-best.pt``)."""

from __future__ import annotations

from typing import Literal

import json
from pathlib import Path
from pydantic import BaseModel, Field

from mia_bench.cache import path_fingerprint, stable_hash
from mia_bench.errors import IncompatibleError, InvalidOptionsError, MiaBenchError, MissingWeightsError
from mia_bench.target import BuildRequest, Target, TargetBuilder, external_control, pick_device
from mia_bench.training import TrainedTargetBuilder, training_bar, training_compute

from .recipe import AUGMENTATIONS, ClapRecipe

AUDIO_CAPS = frozenset({"text", "audio", "gradients"})


class ClapTrainOptions(ClapRecipe):
    device: str = Field("auto", description="auto, cpu or cuda[:N] (not part of the cache key)")
    algorithm: Literal["clip", "simclr"] = Field("clip", description="clip (audio-text contrastive, laion_clap's ClipLoss) "
                                               "or simclr (audio tower only; the target then has no text encoder)")


class TrainedClapBuilder(TrainedTargetBuilder):
    """A small CLAP (laion_clap's model code, random init) trained here on the split's pairs."""

    Options = ClapTrainOptions
    Recipe = ClapRecipe
    algorithms = {"clip": "clap-contrastive", "simclr": "simclr-audio"}
    augmentations = AUGMENTATIONS
    media = "audio"
    media_capabilities = AUDIO_CAPS

    def architectures(self) -> tuple[str, ...]:
        from .model import architectures

        return architectures()

    def model_config(self, arch: str) -> dict:
        from .model import model_config

        return model_config(arch)

    def check_data(self, samples) -> None:
        _check_rate(self.arch, samples.sample_rate)

    def train_cached(self, arch, algorithm, samples, recipe, seed, cache, kind, label):
        return train_cached(arch, algorithm, samples, recipe, seed, cache, kind, self.options.device, label)

    def load(self, path, epoch, arch, seed, name):
        return load_trained(path, epoch, name, self.options.device)


def _check_rate(arch: str, rate: int | None) -> None:
    from .model import model_config

    expected = model_config(arch)["audio_cfg"]["sample_rate"]
    if rate != expected:
        raise IncompatibleError(f"CLAP {arch!r} takes audio at {expected} Hz, but the dataset's audio is at {rate} Hz. "
                                f"Set the dataset's sample_rate={expected} (e.g. pii-voices?sample_rate={expected}).")


def train_cached(arch, algorithm, samples, recipe: ClapRecipe, seed, cache, kind, device, label):
    """Train (or fetch) a CLAP; returns (cache entry path, key, whether it trained now)."""
    from .model import model_config
    from .training import TRAINERS

    if algorithm not in TRAINERS:
        raise InvalidOptionsError(f"training algorithm {algorithm!r} is unknown; valid: {', '.join(TRAINERS)}")
    cfg = model_config(arch)
    key = f"{target_name(arch)}-" + stable_hash({
        "arch": arch, "model_cfg": cfg, "recipe": recipe.model_dump(), "algorithm": algorithm,
        # clap-train/2: dropout and SpecAugment draw from a seeded RNG
        "train": samples.fingerprint(), "seed": seed, "trainer": "clap-train/3",
        "compute": training_compute(device)})
    trained = False  # set by the build itself: under concurrency another worker may have built it

    def build(work: Path) -> dict:
        nonlocal trained
        from .model import create_random_model

        trained = True
        model = create_random_model(arch, seed)
        meta = {"arch": arch, "model_cfg": json.dumps(cfg), "format": "mia-bench-clap/1", "algorithm": algorithm}
        bar = training_bar(label, recipe.epochs) if label else None
        facts = TRAINERS[algorithm](model, samples, recipe, seed, work, pick_device(device), meta, progress=bar)
        return {"training": facts, "recipe": recipe.model_dump(), "algorithm": algorithm}

    return cache.get_or_build(kind, key, build), key, trained


def load_trained(path: Path, epoch: int, name: str, device: str) -> Target:
    from .pretrained import load_checkpoint

    target = load_checkpoint(path / f"epoch_{epoch:03d}.pt", name=name, device=device,
                             fingerprint=f"{path.name}@{epoch}")
    manifest = json.loads((path / "manifest.json").read_text())
    target.info.update({"epoch": epoch, "training": manifest["meta"].get("training", {})})
    return target


def target_name(arch: str) -> str:
    """mia-micro-clap -> clap-micro, like mia-micro-vit -> clip-micro-vit."""
    return "clap-" + arch.removeprefix("mia-").removesuffix("-clap")


def trained_builder(arch: str, description: str) -> type[TrainedClapBuilder]:
    name = target_name(arch)
    return type(f"Builder_{name}", (TrainedClapBuilder,), {"name": name, "arch": arch, "description": description})


class PretrainedClapOptions(BaseModel):
    amodel: str | None = Field(None, description="laion_clap audio config of a LAION checkpoint, e.g. HTSAT-tiny "
                                                 "(not needed for checkpoints saved by mia-bench)")
    tmodel: str = Field("roberta", description="text branch of a LAION checkpoint: roberta (LAION-CLAP's), bert, "
                                               "bart or transformer")
    fusion: bool = Field(False, description="the checkpoint is a fusion model (e.g. 630k-audioset-fusion-best.pt)")
    device: str = Field("auto", description="auto, cpu or cuda[:N]")
    control_checkpoint: str | None = Field(None, description="the owner's null model: a checkpoint trained the same "
                                                             "way without the members; enables control=null")


class PretrainedClapBuilder(TargetBuilder):
    """``laion_clap:/path/to/checkpoint.pt``: a LAION-CLAP checkpoint, or one saved by mia-bench."""

    name = "laion_clap"
    description = ("Pretrained CLAP from a local checkpoint: laion_clap:/path/to/630k-audioset-best.pt?amodel=HTSAT-tiny "
                   "(LAION-CLAP releases) or laion_clap:/path/to/epoch_030.pt (a CLAP trained here)")
    Options = PretrainedClapOptions

    def capabilities(self, modality: str) -> frozenset[str]:
        return AUDIO_CAPS

    def check(self) -> None:
        if not self.arg:
            raise InvalidOptionsError(
                "target 'laion_clap' needs a checkpoint path: laion_clap:/path/to/630k-audioset-best.pt?amodel=HTSAT-tiny "
                "(download it from https://huggingface.co/lukewys/laion_clap on a machine with internet)")

    @property
    def has_null_control(self) -> bool:
        """A null control exists only as the owner's checkpoint (nothing is trained here)."""
        return bool(self.options.control_checkpoint)

    def recipe(self) -> dict:
        return {"name": self.name, "arg": self.arg, "amodel": self.options.amodel, "tmodel": self.options.tmodel,
                "algorithm": "pretrained", "control_checkpoint": self.options.control_checkpoint}

    def input_fingerprint(self) -> str | None:
        """The checkpoint file's content hash: a file replaced in place is a new target."""
        path = Path(self.arg).expanduser() if self.arg else None
        return path_fingerprint(path) if path is not None and path.is_file() else None

    def build(self, request: BuildRequest) -> Target:
        from .pretrained import load_checkpoint

        o = self.options
        control, facts = external_control(self, request)
        name = f"laion_clap:{self.arg}" + (" (null)" if control else "")
        target = load_checkpoint(Path(control or self.arg).expanduser(), name=name, device=o.device,
                                 amodel=o.amodel, tmodel=o.tmodel, fusion=o.fusion)
        target.info.update(facts)
        if request.split is not None and request.split.world.modality != "audio":
            raise IncompatibleError(f"target {self.name!r} is an audio-text model, but the dataset is "
                                    f"{request.split.world.modality}")
        if request.split is not None and request.split.train.sample_rate not in (None, target.sample_rate):
            raise IncompatibleError(f"checkpoint {self.arg} takes audio at {target.sample_rate} Hz, but the dataset's "
                                    f"audio is at {request.split.train.sample_rate} Hz. Set the dataset's sample_rate.")
        return target


__all__ = ["PretrainedClapBuilder", "TrainedClapBuilder", "trained_builder", "MissingWeightsError", "MiaBenchError"]
