"""Target builders: small CLIPs trained here (one per registered architecture) and
pretrained open_clip models (``open_clip:MODEL/TAG`` or ``open_clip:/path/to/ckpt.pt``)."""

from __future__ import annotations

from typing import Literal

import json
import logging
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

from mia_bench.cache import path_fingerprint, stable_hash
from mia_bench.errors import InvalidOptionsError, MissingWeightsError
from mia_bench.target import BuildRequest, Target, TargetBuilder, external_control
from mia_bench.training import TrainedTargetBuilder, training_bar, training_compute

from .configs import CONFIG_DIR, model_config, quiet_random_init, register_model_configs  # noqa: F401
from .recipe import AUGMENTATIONS, Recipe

log = logging.getLogger(__name__)
IMAGE_CAPS = frozenset({"text", "image", "gradients"})


def create_random_model(arch: str, seed: int):
    """A randomly initialised open_clip model, seeded without touching the global RNG."""
    import open_clip
    import torch

    register_model_configs()
    with quiet_random_init(), torch.random.fork_rng(devices=[]):  # random init is the point here
        torch.manual_seed(seed)
        model = open_clip.create_model(arch, output_dict=True)
    return model, cached_tokenizer(arch)


@lru_cache(maxsize=None)
def cached_tokenizer(arch: str):
    """open_clip's tokenizer for ``arch``, built once per process: reading its BPE merges took
    two thirds of creating a micro model (0.13 of 0.2 s), paid by every shadow model twice."""
    import open_clip

    return open_clip.get_tokenizer(arch)


class TrainOptions(Recipe):
    device: str = Field("auto", description="auto, cpu or cuda[:N] (not part of the cache key)")
    algorithm: Literal["clip", "simclr"] = Field("clip", description="clip (image-text contrastive) or simclr (image tower only, "
                                               "EncoderMI's native setting; the target has no text encoder)")


class TrainedClipBuilder(TrainedTargetBuilder):
    """A small CLIP trained here on the split's training pairs; cached by content hash."""

    Options = TrainOptions
    Recipe = Recipe
    algorithms = {"clip": "clip-contrastive", "simclr": "simclr"}
    augmentations = AUGMENTATIONS
    media = "image"
    media_capabilities = IMAGE_CAPS

    def architectures(self) -> tuple[str, ...]:
        return register_model_configs()

    def model_config(self, arch: str) -> dict:
        return model_config(arch)

    def train_cached(self, arch, algorithm, samples, recipe, seed, cache, kind, label):
        return train_cached(arch, algorithm, samples, recipe, seed, cache, kind, self.options.device, label)

    def load(self, path, epoch, arch, seed, name):
        return load_trained(path, epoch, arch, seed, name, self.options.device)


def train_cached(arch, algorithm, samples, recipe: Recipe, seed, cache, kind, device, label):
    """Train (or fetch) a model; returns (cache entry path, key, whether it trained now).
    A cache hit trains nothing."""
    from .training import TRAINERS

    if algorithm not in TRAINERS:
        raise InvalidOptionsError(f"training algorithm {algorithm!r} is unknown; valid: {', '.join(TRAINERS)}")
    # "trainer" is bumped when training computes differently (2: fused AdamW)
    key = f"{arch.replace('mia-', 'clip-')}-" + stable_hash({
        "arch": arch, "model_cfg": model_config(arch), "recipe": recipe.model_dump(), "algorithm": algorithm,
        "train": samples.fingerprint(), "seed": seed, "trainer": "openclip-train/2",
        "compute": training_compute(device),
    })

    trained = False  # set by the build itself: under concurrency another worker may have built it

    def build(work: Path) -> dict:
        nonlocal trained
        from mia_bench.target import pick_device

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

    from mia_bench.target import pick_device

    from .model import OpenClipTarget

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
    control_checkpoint: str | None = Field(None, description="the owner's null model: a checkpoint trained the same "
                                                             "way without the members; enables control=null")


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

    @property
    def has_null_control(self) -> bool:
        """A null control exists only as the owner's checkpoint (nothing is trained here)."""
        return bool(self.options.control_checkpoint)

    def recipe(self) -> dict:
        return {"name": self.name, "arg": self.arg, "model": self.options.model, "algorithm": "pretrained",
                "control_checkpoint": self.options.control_checkpoint}

    def input_fingerprint(self) -> str | None:
        """The checkpoint file's content hash (a hub tag is fixed by its name: None)."""
        path = Path(self.arg).expanduser() if self._is_path() else None
        return path_fingerprint(path) if path is not None and path.is_file() else None

    def build(self, request: BuildRequest) -> Target:
        from mia_bench.target import pick_device

        from .model import OpenClipTarget
        from .pretrained import load_checkpoint_model, load_pretrained_model

        control, facts = external_control(self, request)
        if control or self._is_path():
            model, tokenizer, info = load_checkpoint_model(Path(control or self.arg).expanduser(), self.options.model)
        else:
            arch, _, tag = self.arg.partition("/")
            model, tokenizer, info = load_pretrained_model(arch, tag or None)
        name = f"open_clip:{self.arg}" + (" (null)" if control else "")
        return OpenClipTarget(model, tokenizer, name, pick_device(self.options.device), {**info, **facts})


__all__ = ["PretrainedClipBuilder", "TrainedClipBuilder", "trained_builder", "MissingWeightsError"]
