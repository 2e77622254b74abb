"""Target builders: small CLIPs trained here (one per registered architecture) and
pretrained open_clip models (``open_clip:MODEL/TAG`` or ``open_clip:/path/to/ckpt.pt``)."""

from __future__ import annotations

import json
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field

from mia_bench.cache import stable_hash
from mia_bench.errors import InvalidOptionsError, MiaBenchError, MissingWeightsError
from mia_bench.target import BuildRequest, Target, TargetBuilder
from mia_bench.training import training_bar

from .recipe import AUGMENTATIONS, Recipe, checkpoint_epochs

log = logging.getLogger(__name__)
CONFIG_DIR = Path(__file__).parent / "model_configs"
IMAGE_CAPS = frozenset({"text", "image", "gradients"})


@lru_cache(maxsize=1)
def register_model_configs() -> tuple[str, ...]:
    """Register this plugin's JSON model configs with open_clip (no download) once."""
    import open_clip

    open_clip.add_model_config(CONFIG_DIR)
    return tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))


def model_config(arch: str) -> dict:
    return json.loads((CONFIG_DIR / f"{arch}.json").read_text())


def create_random_model(arch: str, seed: int):
    """A randomly initialised open_clip model, seeded without touching the global RNG."""
    import open_clip
    import torch

    register_model_configs()
    quiet = _DropMessage("No pretrained weights loaded")  # random init is the point here
    logging.getLogger().addFilter(quiet)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = open_clip.create_model(arch, output_dict=True)
    finally:
        logging.getLogger().removeFilter(quiet)
    return model, open_clip.get_tokenizer(arch)


class _DropMessage(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


class TrainOptions(Recipe):
    device: str = Field("auto", description="auto, cpu or cuda[:N] (not part of the cache key)")
    algorithm: str = Field("clip", description="clip (image-text contrastive) or simclr (image tower only, "
                                               "EncoderMI's native setting; the target has no text encoder)")


NOT_RECIPE = {"device", "algorithm"}  # options that are not Recipe fields (the algorithm keys the cache separately)
ALGORITHM_NAMES = {"clip": "clip-contrastive", "simclr": "simclr"}


class TrainedClipBuilder(TargetBuilder):
    """A small CLIP trained here on the split's training pairs; cached by content hash."""

    arch: ClassVar[str]
    trains_on_split = True
    Options = TrainOptions

    def capabilities(self, modality: str) -> frozenset[str]:
        return IMAGE_CAPS if self.options.algorithm == "clip" else IMAGE_CAPS - {"text"}

    def check(self) -> None:
        if self.options.algorithm not in ALGORITHM_NAMES:
            raise InvalidOptionsError(f"target {self.name!r}: algorithm={self.options.algorithm!r} is not valid; "
                                      f"valid: {', '.join(ALGORITHM_NAMES)}")
        if self.options.augment not in AUGMENTATIONS:
            raise InvalidOptionsError(
                f"target {self.name!r}: augment={self.options.augment!r} is not valid; valid: {', '.join(AUGMENTATIONS)}"
            )

    def recipe(self) -> dict:
        return {"name": self.name, "arch": self.arch, "model_cfg": model_config(self.arch),
                "recipe": self.options.model_dump(exclude=NOT_RECIPE),
                "algorithm": ALGORITHM_NAMES[self.options.algorithm]}

    def build(self, request: BuildRequest) -> Target:
        if request.train is None or request.train.images is None:
            raise MiaBenchError(f"target {self.name!r} trains on image-text pairs, but the split has no images")
        recipe = Recipe(**request.defense.apply_recipe(self.options.model_dump(exclude=NOT_RECIPE)))
        label = self.name + (" (null)" if request.control == "null" else "")
        path, key, _ = train_cached(self.arch, self.options.algorithm, request.train, recipe, request.seed, request.cache,
                                 "targets", self.options.device, label if request.progress else None)
        epoch = request.defense.release_epoch(recipe.epochs) or recipe.epochs
        available = checkpoint_epochs(recipe)
        if epoch not in available:
            raise InvalidOptionsError(
                f"defense {request.defense.name!r} asks for epoch {epoch}, but target {self.name!r} keeps "
                f"checkpoints at epochs {available}. Pick one of those or set checkpoint_every."
            )
        target = load_trained(path, epoch, self.arch, request.seed, f"{self.name}@{epoch}", self.options.device)
        target.info.update({"cache_key": key, "control": request.control, "checkpoint_epochs": available,
                            "algorithm": self.options.algorithm})
        target.capabilities = self.capabilities(request.split.world.modality)
        return target

    def shadow_architectures(self) -> tuple[str, ...]:
        return register_model_configs()

    def build_shadow(self, samples, seed: int, cache, *, arch: str | None = None, algorithm: str = "clip",
                     recipe: dict | None = None, progress: bool = False) -> Target:
        """A shadow model: this target's recipe (or ``recipe`` overrides), ``arch`` and ``algorithm``
        (see ``training.TRAINERS``), trained on ``samples`` and cached by content hash like targets."""
        arch = arch or self.arch
        if arch not in register_model_configs():
            raise InvalidOptionsError(f"shadow arch {arch!r} is unknown; valid: {', '.join(register_model_configs())}")
        full = Recipe(**{**self.options.model_dump(exclude=NOT_RECIPE), **(recipe or {})})
        # A shadow is only ever used at its last epoch: per-epoch checkpoints would cost GBs per pool.
        full = full.model_copy(update={"checkpoint_every": full.epochs})
        path, key, trained = train_cached(arch, algorithm, samples, full, seed, cache, "shadows",
                                          self.options.device, f"shadow {arch}/{algorithm}" if progress else None)
        target = load_trained(path, full.epochs, arch, seed, f"shadow:{arch}/{algorithm}", self.options.device)
        target.info.update({"cache_key": key, "trained_now": trained, "algorithm": algorithm})
        if algorithm != "clip":
            target.capabilities = IMAGE_CAPS - {"text"}  # the text tower was never trained
        return target


def train_cached(arch, algorithm, samples, recipe: Recipe, seed, cache, kind, device, label):
    """Train (or fetch) a model; returns (cache entry path, key, whether it trained now).
    A cache hit trains nothing."""
    from .training import TRAINERS

    if algorithm not in TRAINERS:
        raise InvalidOptionsError(f"training algorithm {algorithm!r} is unknown; valid: {', '.join(TRAINERS)}")
    key = f"{arch.replace('mia-', 'clip-')}-" + stable_hash({
        "arch": arch, "model_cfg": model_config(arch), "recipe": recipe.model_dump(), "algorithm": algorithm,
        "train": samples.fingerprint(), "seed": seed, "trainer": "openclip-train/1",
    })

    trained = False  # set by the build itself: under concurrency another worker may have built it

    def build(work: Path) -> dict:
        nonlocal trained
        from .model import pick_device

        trained = True
        model, tokenizer = create_random_model(arch, seed)
        meta = {"arch": arch, "model_cfg": json.dumps(model_config(arch)), "format": "mia-bench-openclip/1",
                "algorithm": algorithm}
        bar = training_bar(label, recipe.epochs) if label else None
        facts = TRAINERS[algorithm](model, tokenizer, samples, recipe, seed, work, pick_device(device), meta,
                                    progress=bar)
        return {"training": facts, "recipe": recipe.model_dump(), "algorithm": algorithm}

    path = cache.get_or_build(kind, key, build)
    return path, key, trained


def load_trained(path: Path, epoch: int, arch: str, seed: int, name: str, device: str) -> Target:
    import torch

    from .model import OpenClipTarget, pick_device

    ckpt = path / f"epoch_{epoch:03d}.pt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    model, tokenizer = create_random_model(arch, seed)
    model.load_state_dict(state["state_dict"])
    manifest = json.loads((path / "manifest.json").read_text())
    info = {"epoch": epoch, "arch": arch, "training": manifest["meta"].get("training", {}), "checkpoint": str(ckpt)}
    return OpenClipTarget(model, tokenizer, name, pick_device(device), info, fingerprint=f"{path.name}@{epoch}")


def trained_builder(arch: str, description: str) -> type[TrainedClipBuilder]:
    name = arch.replace("mia-", "clip-")
    return type(f"Builder_{name}", (TrainedClipBuilder,), {"name": name, "arch": arch, "description": description})


class PretrainedOptions(BaseModel):
    model: str | None = Field(None, description="architecture of a local checkpoint (e.g. ViT-B-32)")
    device: str = Field("auto", description="auto, cpu or cuda[:N]")


class PretrainedClipBuilder(TargetBuilder):
    """``open_clip:MODEL/TAG`` (open_clip's pretrained registry) or ``open_clip:/path/ckpt.pt``."""

    name = "open_clip"
    description = "Pretrained open_clip model: open_clip:MODEL/TAG or open_clip:/path/to/checkpoint.pt"
    Options = PretrainedOptions

    def capabilities(self, modality: str) -> frozenset[str]:
        return IMAGE_CAPS

    def check(self) -> None:
        if not self.arg:
            raise InvalidOptionsError(
                "target 'open_clip' needs an argument: open_clip:MODEL/TAG (e.g. open_clip:ViT-B-32/laion400m_e32) "
                "or open_clip:/path/to/checkpoint.pt"
            )
        if not self._is_path():
            import open_clip

            model, _, tag = self.arg.partition("/")
            if model not in open_clip.list_models():
                from mia_bench.errors import UnknownComponentError

                raise UnknownComponentError("open_clip model", model, open_clip.list_models())

    def _is_path(self) -> bool:
        return self.arg is not None and (self.arg.startswith((".", "~", "/"))
                                         or self.arg.endswith((".pt", ".bin", ".safetensors", ".pth")))

    def recipe(self) -> dict:
        return {"name": self.name, "arg": self.arg, "model": self.options.model, "algorithm": "pretrained"}

    def build(self, request: BuildRequest) -> Target:
        from .model import OpenClipTarget, pick_device
        from .pretrained import load_checkpoint_model, load_pretrained_model

        if self._is_path():
            model, tokenizer, info = load_checkpoint_model(Path(self.arg).expanduser(), self.options.model)
        else:
            arch, _, tag = self.arg.partition("/")
            model, tokenizer, info = load_pretrained_model(arch, tag or None)
        return OpenClipTarget(model, tokenizer, f"open_clip:{self.arg}", pick_device(self.options.device), info)


__all__ = ["PretrainedClipBuilder", "TrainedClipBuilder", "trained_builder", "MissingWeightsError"]
