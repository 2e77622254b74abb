"""Target builders: small CLAPs trained here (one per registered config) and pretrained
LAION-CLAP checkpoints from a local file (``laion_clap:/path/to/630k-audioset-best.pt``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field

from mia_bench.cache import stable_hash
from mia_bench.errors import IncompatibleError, InvalidOptionsError, MiaBenchError, MissingWeightsError
from mia_bench.target import BuildRequest, Target, TargetBuilder
from mia_bench.training import TrainingRecipe, checkpoint_epochs, training_bar

AUDIO_CAPS = frozenset({"text", "audio", "gradients"})
ALGORITHM_NAMES = {"clip": "clap-contrastive", "simclr": "simclr-audio"}
NOT_RECIPE = {"device", "algorithm"}


class ClapRecipe(TrainingRecipe):
    """The harness's recipe with CLAP defaults: smaller batches and more epochs, so the micro CLAP
    learns the embedded world's few hundred pairs (30 epochs: pair-level CSA AUC 0.58; 60: 0.87)."""

    epochs: int = Field(60, ge=1, description="training epochs")
    batch_size: int = Field(64, ge=2, description="pairs per batch")
    augment: str = Field("shift", description="training augmentation: none, shift (circular time shift), shift_gain")


class ClapTrainOptions(ClapRecipe):
    device: str = Field("auto", description="auto, cpu or cuda[:N] (not part of the cache key)")
    algorithm: str = Field("clip", description="clip (audio-text contrastive, laion_clap's ClipLoss) or simclr "
                                               "(audio tower only; the target then has no text encoder)")


def _pick_device(choice: str):
    from mia_bench_openclip.model import pick_device

    return pick_device(choice)


class TrainedClapBuilder(TargetBuilder):
    """A small CLAP (laion_clap's model code, random init) trained here on the split's pairs."""

    arch: ClassVar[str]
    trains_on_split = True
    Options = ClapTrainOptions

    def capabilities(self, modality: str) -> frozenset[str]:
        return AUDIO_CAPS if self.options.algorithm == "clip" else AUDIO_CAPS - {"text"}

    def check(self) -> None:
        from .training import AUGMENTATIONS

        if self.options.algorithm not in ALGORITHM_NAMES:
            raise InvalidOptionsError(f"target {self.name!r}: algorithm={self.options.algorithm!r} is not valid; "
                                      f"valid: {', '.join(ALGORITHM_NAMES)}")
        if self.options.augment not in AUGMENTATIONS:
            raise InvalidOptionsError(f"target {self.name!r}: augment={self.options.augment!r} is not valid; "
                                      f"valid: {', '.join(AUGMENTATIONS)}")

    def recipe(self) -> dict:
        from .model import model_config

        return {"name": self.name, "arch": self.arch, "model_cfg": model_config(self.arch),
                "recipe": self.options.model_dump(exclude=NOT_RECIPE),
                "algorithm": ALGORITHM_NAMES[self.options.algorithm]}

    def build(self, request: BuildRequest) -> Target:
        if request.train is None or request.train.audio is None:
            raise IncompatibleError(f"target {self.name!r} trains on audio-text pairs, but the split has no audio; "
                                    "use an audio dataset such as pii-voices")
        recipe = ClapRecipe(**request.defense.apply_recipe(self.options.model_dump(exclude=NOT_RECIPE)))
        _check_rate(self.arch, request.train.sample_rate)
        label = self.name + (" (null)" if request.control == "null" else "")
        path, key, _ = train_cached(self.arch, self.options.algorithm, request.train, recipe, request.seed,
                                    request.cache, "targets", self.options.device, label if request.progress else None)
        epoch = request.defense.release_epoch(recipe.epochs) or recipe.epochs
        available = checkpoint_epochs(recipe)
        if epoch not in available:
            raise InvalidOptionsError(
                f"defense {request.defense.name!r} asks for epoch {epoch}, but target {self.name!r} keeps "
                f"checkpoints at epochs {available}. Pick one of those or set checkpoint_every.")
        target = load_trained(path, epoch, f"{self.name}@{epoch}", self.options.device)
        target.info.update({"cache_key": key, "control": request.control, "checkpoint_epochs": available,
                            "algorithm": self.options.algorithm})
        target.capabilities = self.capabilities("audio")
        return target

    def shadow_architectures(self) -> tuple[str, ...]:
        from .model import architectures

        return architectures()

    def build_shadow(self, samples, seed: int, cache, *, arch: str | None = None, algorithm: str = "clip",
                     recipe: dict | None = None, progress: bool = False) -> Target:
        """A shadow CLAP: this target's recipe (or ``recipe`` overrides), ``arch`` and ``algorithm``,
        trained on ``samples``, cached by content hash like targets, last epoch only."""
        from .model import architectures

        arch = arch or self.arch
        if arch not in architectures():
            raise InvalidOptionsError(f"shadow arch {arch!r} is unknown; valid: {', '.join(architectures())}")
        full = ClapRecipe(**{**self.options.model_dump(exclude=NOT_RECIPE), **(recipe or {})})
        full = full.model_copy(update={"checkpoint_every": full.epochs})
        path, key, trained = train_cached(arch, algorithm, samples, full, seed, cache, "shadows", self.options.device,
                                          f"shadow {arch}/{algorithm}" if progress else None)
        target = load_trained(path, full.epochs, f"shadow:{arch}/{algorithm}", self.options.device)
        target.info.update({"cache_key": key, "trained_now": trained, "algorithm": algorithm})
        if algorithm != "clip":
            target.capabilities = AUDIO_CAPS - {"text"}
        return target


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
        "train": samples.fingerprint(), "seed": seed, "trainer": "clap-train/1"})
    trained = False  # set by the build itself: under concurrency another worker may have built it

    def build(work: Path) -> dict:
        nonlocal trained
        from .model import create_random_model

        trained = True
        model = create_random_model(arch, seed)
        meta = {"arch": arch, "model_cfg": json.dumps(cfg), "format": "mia-bench-clap/1", "algorithm": algorithm}
        bar = training_bar(label, recipe.epochs) if label else None
        facts = TRAINERS[algorithm](model, samples, recipe, seed, work, _pick_device(device), meta, progress=bar)
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

    def recipe(self) -> dict:
        return {"name": self.name, "arg": self.arg, "amodel": self.options.amodel, "tmodel": self.options.tmodel,
                "algorithm": "pretrained"}

    def build(self, request: BuildRequest) -> Target:
        from .pretrained import load_checkpoint

        o = self.options
        target = load_checkpoint(Path(self.arg).expanduser(), name=f"laion_clap:{self.arg}", device=o.device,
                                 amodel=o.amodel, tmodel=o.tmodel, fusion=o.fusion)
        if request.split is not None and request.split.world.modality != "audio":
            raise IncompatibleError(f"target {self.name!r} is an audio-text model, but the dataset is "
                                    f"{request.split.world.modality}")
        if request.split is not None and request.split.train.sample_rate not in (None, target.sample_rate):
            raise IncompatibleError(f"checkpoint {self.arg} takes audio at {target.sample_rate} Hz, but the dataset's "
                                    f"audio is at {request.split.train.sample_rate} Hz. Set the dataset's sample_rate.")
        return target


__all__ = ["PretrainedClapBuilder", "TrainedClapBuilder", "trained_builder", "MissingWeightsError", "MiaBenchError"]
