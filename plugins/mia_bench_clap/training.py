"""Contrastive training of laion_clap models on a split's audio-text pairs.

The loss is laion_clap's own ``ClipLoss`` on the normalised audio and text embeddings
(``logit_scale_a``, no MLP loss, as in its single-GPU training); the loop (AdamW,
cosine schedule, per-epoch checkpoints, resume) is the harness's. Waveforms and tokens
are held in memory; training augmentation happens on the batch in torch.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from mia_bench.training import TrainingRecipe, train_loop

from .model import ClapTokenizer, fit_length
from .recipe import AUGMENTATIONS


def augment_waveforms(x: torch.Tensor, kind: str, gen: torch.Generator) -> torch.Tensor:
    """Batched random circular time shift (up to 10% of the clip), and a gain of +-6 dB for ``shift_gain``."""
    if kind == "none":
        return x
    n, t = x.shape
    shift = ((torch.rand(n, generator=gen) * 0.2 - 0.1) * t).long()
    idx = (torch.arange(t)[None, :] - shift[:, None]) % t
    out = torch.gather(x, 1, idx.to(x.device))
    if kind == "shift_gain":
        gain = 10 ** ((torch.rand(n, 1, generator=gen) * 12 - 6) / 20)
        out = (out * gain.to(x.device)).clamp(-1, 1)
    return out


def _check(recipe) -> None:
    if recipe.augment not in AUGMENTATIONS:
        raise ValueError(f"unknown augment {recipe.augment!r}; valid: {', '.join(AUGMENTATIONS)}")


def _prepare(model, samples):
    waveforms = fit_length(torch.from_numpy(samples.audio.astype("float32")), int(model.audio_cfg.clip_samples))
    tokens = ClapTokenizer(model.context_length)(list(samples.texts))
    return waveforms, tokens


# laion_clap's CLAP holds MLPs for its optional MLP loss (and a text-side logit scale) that the
# contrastive loss here never uses: DP-SGD holds them at init (train_loop's ``unused``).
UNUSED = ("audio_transform", "text_transform", "logit_scale_t")


def audio_embeddings(model, x: torch.Tensor, device) -> torch.Tensor:
    return F.normalize(model.audio_projection(model.encode_audio(x.to(device), device=device)["embedding"]), dim=-1)


def train_clap(model, samples, recipe: TrainingRecipe, seed: int, work_dir, device, meta: dict,
               progress: Callable[[int, int, float], None] | None = None) -> dict:
    """CLAP's audio-text contrastive training of ``model`` in place; returns training facts."""
    _check(recipe)
    loss_fn = clap_loss()
    waveforms, tokens = _prepare(model, samples)

    def step(idx, gen):
        audio = audio_embeddings(model, augment_waveforms(waveforms[idx], recipe.augment, gen), device)
        text = F.normalize(model.encode_text(tokens[idx].to(device), device=device), dim=-1)
        return loss_fn(audio, text, model.logit_scale_a.exp())

    return train_loop(model, len(samples), recipe, seed, work_dir, device, meta, step, progress, unused=UNUSED)


SIMCLR_TEMPERATURE = 0.1


def train_simclr_audio(model, samples, recipe: TrainingRecipe, seed: int, work_dir, device, meta: dict,
                       progress: Callable[[int, int, float], None] | None = None) -> dict:
    """SimCLR-style audio-only contrastive training of the audio tower (captions unused): two
    shifted, gain-jittered views per clip, NT-Xent at temperature 0.1. EncoderMI's "training
    algorithm unknown" shadow encoders for CLAP targets train this way."""
    _check(recipe)
    waveforms, _ = _prepare(model, samples)

    def step(idx, gen):
        x = waveforms[idx]
        views = torch.cat([augment_waveforms(x, "shift_gain", gen), augment_waveforms(x, "shift_gain", gen)])
        z = audio_embeddings(model, views, device)
        n = len(idx)
        sim = (z @ z.T / SIMCLR_TEMPERATURE).masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device),
                                                         float("-inf"))
        positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
        return F.cross_entropy(sim, positives)

    return train_loop(model, len(samples), recipe, seed, work_dir, device, meta, step, progress)


def clap_loss():
    from .laion import clap_module

    return clap_module().ClipLoss()


TRAINERS: dict[str, Callable] = {"clip": train_clap, "simclr": train_simclr_audio}
