"""OpenClipTarget: an open_clip model behind the mia-bench Target interface."""

from __future__ import annotations

from functools import cached_property
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mia_bench.target import Target, TokenMemo, weights_fingerprint

ENCODE_BATCH = 512


class ImagePreprocessor:
    """uint8 ``(N, H, W, 3)`` -> normalised ``(N, 3, S, S)`` float tensor, batched in torch.

    At the model's size the normalisation ``(x / 255 - mean) / std`` is one fused
    multiply-add on the channels-last input (half the passes of doing it op by op, which
    was most of the harness's embedding overhead); the result is a channels-last view.
    Resizes (bicubic, antialiased) only when the input size differs from the model's.
    """

    def __init__(self, image_size: int, mean: Sequence[float], std: Sequence[float]):
        self.image_size = int(image_size)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self._scale = (1.0 / (255.0 * self.std)).view(3)  # per channel, for the channels-last fused path
        self._shift = (-self.mean / self.std).view(3)
        self._on: dict = {}

    def _affine(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._on:
            self._on[device] = (self._scale.to(device), self._shift.to(device))
        return self._on[device]

    def __call__(self, images: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
        x = torch.as_tensor(images).to(device)
        if x.shape[1] == self.image_size and x.shape[2] == self.image_size:
            scale, shift = self._affine(device)
            return torch.addcmul(shift, x.float(), scale).permute(0, 3, 1, 2)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        x = F.interpolate(x, size=(self.image_size,) * 2, mode="bicubic", antialias=True, align_corners=False)
        x = x.clamp_(0, 1)
        return (x - self.mean.to(device)) / self.std.to(device)


class OpenClipTarget(Target):
    modality = "image"
    capabilities = frozenset({"text", "image", "gradients"})

    def __init__(self, model, tokenizer, name: str, device: torch.device, info: dict | None = None,
                 fingerprint: str | None = None):
        self.model = model.to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)  # attacks optimise inputs, never weights
        self.tokenizer = tokenizer
        self.name = name
        self._device = device
        visual = model.visual
        size = visual.image_size if isinstance(visual.image_size, int) else visual.image_size[0]
        self.preprocess = ImagePreprocessor(size, visual.image_mean or (0.48145466, 0.4578275, 0.40821073),
                                            visual.image_std or (0.26862954, 0.26130258, 0.27577711))
        self.info = dict(info or {})
        self._fingerprint = fingerprint
        self._tokens = TokenMemo(tokenizer)

    @cached_property
    def fingerprint(self) -> str:  # type: ignore[override]
        return self._fingerprint or weights_fingerprint(self.model)

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp().item())

    def tokens(self, texts: Sequence[str]) -> torch.Tensor:
        return self._tokens(texts)

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), ENCODE_BATCH):
            tokens = self.tokens(list(texts[i : i + ENCODE_BATCH])).to(self._device)
            out.append(self.model.encode_text(tokens, normalize=True).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, self.embed_dim), np.float32)

    @torch.no_grad()
    def encode_image(self, images: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(images), ENCODE_BATCH):
            x = self.preprocess(images[i : i + ENCODE_BATCH], self._device)
            out.append(self.model.encode_image(x, normalize=True).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, self.embed_dim), np.float32)

    def preprocess_media(self, media: np.ndarray) -> torch.Tensor:
        return self.preprocess(media, self._device)

    def media_features(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(inputs, normalize=True)

    def media_from_unit(self, x: torch.Tensor) -> torch.Tensor:
        size = self.preprocess.image_size
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        mean, std = self.pixel_stats
        return (x - mean) / std

    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        with torch.no_grad():
            return self.model.encode_text(self.tokens(list(texts)).to(self._device), normalize=True)

    @property
    def media_input_shape(self) -> tuple[int, ...]:
        return (3, self.preprocess.image_size, self.preprocess.image_size)

    @cached_property
    def embed_dim(self) -> int:
        return int(self.model.text_projection.shape[1]) if hasattr(self.model, "text_projection") else 0

    @property
    def pixel_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) of the input normalisation, ``(1, 3, 1, 1)`` on the device: maps pixels <-> inputs."""
        return self.preprocess.mean.to(self._device), self.preprocess.std.to(self._device)
