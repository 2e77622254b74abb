"""Where EncoderMI's n augmented views of an input come from (option ``views``).

- ``training`` (default, the paper): the views are drawn "via the data augmentation
  module of the training algorithm used to train the shadow encoder" (Liu et al. 2021,
  section 4.2): the very function the shadow plugin trains with, with the shadow's own
  setting. A CLIP-trained shadow uses its recipe's ``augment`` (``crop`` by default on
  the micro CLIP, ``shift`` on the micro CLAP); a SimCLR-trained shadow (a "training
  algorithm unknown" setting) uses what that trainer hard-codes: ``strong`` for images,
  ``shift_gain`` for audio. The same views are then made of the target's inputs.
- ``fixed``: one list from :mod:`mia_bench.augment` whatever the shadow trained with
  (``ops``; default crop, flip, colour jitter, grayscale for images; shift, gain, noise,
  speed for audio): the behaviour before ``views`` existed. Giving ``ops`` selects it.

Only the encoder's outputs are queried (black-box), so views are made in media space.
CLIP's training augments normalised images: its crops and flips (bilinear resampling,
reflection padding) commute with the per-channel normalisation and are reproduced
exactly; ``strong``'s brightness/contrast jitter is applied in the normalised space of
the plugin's default constants (the micro configs set none of their own) and then
clipped to valid pixels, since the encoder only accepts images. CLAP's HTSAT tower also
applies SpecAugment inside its forward pass while training; that acts on the tower's
internal spectrogram, which a black-box query cannot reach, so it is not reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mia_bench.augment import check_view_ops, default_ops, make_views
from mia_bench.errors import IncompatibleError, InvalidOptionsError

VIEWS = ("training", "fixed")
SIMCLR_AUGMENT = {"image": "strong", "audio": "shift_gain"}  # train_simclr / train_simclr_audio's views


@dataclass(frozen=True)
class ViewSpec:
    """How views are made: ``source`` "training" (``ops`` = the one training augmentation
    kind) or "fixed" (``ops`` = mia_bench.augment ops)."""

    source: str
    ops: tuple[str, ...]
    modality: str

    @property
    def label(self) -> str:
        return f"{self.source}:{'+'.join(self.ops)}"

    def make(self, media: np.ndarray, n_views: int, seeds: Sequence[int]) -> np.ndarray:
        """``(N, ...) -> (N, n_views, ...)``; row i's views come from ``seeds[i]`` alone."""
        if self.source == "fixed":
            return make_views(media, n_views, seeds, self.ops, self.modality)
        if self.modality == "image":
            return _clip_training_views(media, n_views, seeds, self.ops[0])
        return _clap_training_views(media, n_views, seeds, self.ops[0])


def resolve_views(views: str, ops: Sequence[str] | None, modality: str, build, target_recipe: dict,
                  algorithm: str) -> ViewSpec:
    """The views for a shadow trained by ``build`` with ``algorithm`` ("clip" or "simclr")."""
    if views == "fixed":
        chosen = tuple(ops) if ops is not None else default_ops(modality)
        return ViewSpec("fixed", check_view_ops(chosen, modality), modality)
    if views != "training":
        raise InvalidOptionsError(f"views={views!r} is not valid; valid: {', '.join(VIEWS)}")
    kind = SIMCLR_AUGMENT[modality] if algorithm == "simclr" else _recipe_augment(build, target_recipe)
    if kind is None:
        raise IncompatibleError("views=training draws EncoderMI's views with the shadow encoder's training "
                                "augmentation, but the shadow builder names none (it has no 'augment' recipe "
                                "field); set views=fixed (and ops) to use a fixed augmentation list")
    if kind == "none":
        raise InvalidOptionsError("views=training: the shadow trains with augment=none, so its training algorithm "
                                  "has no augmentation to draw views from (every view would be the input itself); "
                                  "set views=fixed, or train the target with an augmentation")
    valid = _training_kinds(modality)
    if kind not in valid:
        raise IncompatibleError(f"views=training: the shadow's augmentation {kind!r} is not one mia-bench can "
                                f"reproduce for {modality} (valid: {', '.join(valid)}); set views=fixed")
    return ViewSpec("training", (kind,), modality)


def _recipe_augment(build, target_recipe: dict) -> str | None:
    """The shadow builder's own ``augment`` (shadows train with its recipe), else the target's."""
    options = getattr(getattr(build, "__self__", None), "options", None)
    if options is not None and getattr(options, "augment", None) is not None:
        return options.augment
    return (target_recipe.get("recipe") or {}).get("augment")


def _training_kinds(modality: str) -> tuple[str, ...]:
    if modality == "image":
        from mia_bench_openclip.recipe import AUGMENTATIONS
    else:
        from mia_bench_clap.recipe import AUGMENTATIONS
    return tuple(a for a in AUGMENTATIONS if a != "none")


def _generator(seed: int):
    import torch

    return torch.Generator().manual_seed(int(seed) % (2**63))


def _clip_training_views(images: np.ndarray, n_views: int, seeds: Sequence[int], kind: str) -> np.ndarray:
    """``(N, H, W, 3) uint8 -> (N, n_views, H, W, 3) uint8`` through CLIP's ``augment_batch``."""
    import open_clip
    import torch
    from mia_bench_openclip.training import augment_batch

    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255) - mean) / std
    out = torch.stack([augment_batch(x[i : i + 1].repeat(n_views, 1, 1, 1), kind, _generator(s))
                       for i, s in enumerate(seeds)]) if len(seeds) else x[:0, None].repeat(1, n_views, 1, 1, 1)
    unit = (out * std + mean).clamp(0, 1)
    return (unit * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).numpy()


def _clap_training_views(audio: np.ndarray, n_views: int, seeds: Sequence[int], kind: str) -> np.ndarray:
    """``(N, T) float32 -> (N, n_views, T) float32`` through CLAP's ``augment_waveforms``."""
    import torch
    from mia_bench_clap.training import augment_waveforms

    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    views = [augment_waveforms(x[i : i + 1].repeat(n_views, 1), kind, _generator(s)) for i, s in enumerate(seeds)]
    return (torch.stack(views) if views else x[:0, None].repeat(1, n_views, 1)).numpy()
