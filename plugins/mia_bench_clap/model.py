"""ClapTarget: a laion_clap ``CLAP`` model behind the mia-bench Target interface, and its factory."""

from __future__ import annotations

import json
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mia_bench.errors import InvalidOptionsError
from mia_bench.target import Target, TokenMemo, weights_fingerprint

from .laion import clap_module

CONFIG_DIR = Path(__file__).parent / "model_configs"
ENCODE_BATCH = 256
AUDIO_CAPS = frozenset({"text", "audio", "gradients"})
from .audio_branch import LOGMEL_MEAN, LOGMEL_STD  # noqa: E402,F401  (defined with the towers that use them)


@lru_cache(maxsize=None)
def architectures() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))


def model_config(arch: str) -> dict:
    if arch not in architectures():
        raise InvalidOptionsError(f"CLAP architecture {arch!r} is unknown; valid: {', '.join(architectures())}")
    return json.loads((CONFIG_DIR / f"{arch}.json").read_text())


def build_model(cfg: dict, tmodel: str = "transformer"):
    """A ``CLAP`` from a laion_clap config dict; ``mia_audio_branch`` swaps in a registered smaller tower."""
    from .audio_branch import AUDIO_BRANCHES

    cm = clap_module()
    cfg = dict(cfg)
    branch = cfg.pop("mia_audio_branch", None)
    cfg["text_cfg"] = {**cfg["text_cfg"], "model_type": tmodel}
    model = cm.CLAP(**cfg)
    if branch:
        kind = branch["kind"]
        if kind not in AUDIO_BRANCHES:
            raise InvalidOptionsError(f"audio branch {kind!r} is unknown; valid: {', '.join(AUDIO_BRANCHES)}")
        model.audio_branch = AUDIO_BRANCHES[kind](model.audio_cfg, branch["widths"], cfg["embed_dim"])
    return model


def create_random_model(arch: str, seed: int):
    """A randomly initialised CLAP of a registered config, seeded without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(model_config(arch))


class ClapTokenizer:
    """laion_clap's CLIP BPE tokenizer at the model's context length (shipped in the wheel: no hub).

    Over-long texts keep their end-of-text token, which is where CLAP's text tower reads."""

    def __init__(self, context_length: int):
        self.context_length = context_length

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        cm = clap_module()
        tokens = cm.tokenize(list(texts), context_length=self.context_length)
        cut = tokens[:, -1] != 0
        tokens[cut, -1] = cm.tokenizer._tokenizer.encoder["<end_of_text>"]
        return tokens


class ClapTarget(Target):
    modality = "audio"
    capabilities = AUDIO_CAPS

    def __init__(self, model, name: str, device: torch.device, info: dict | None = None,
                 fingerprint: str | None = None, tokenizer=None):
        self.model = model.to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)  # attacks optimise inputs, never weights
        self.name = name
        self._device = device
        self.sample_rate = int(model.audio_cfg.sample_rate)
        self.clip_samples = int(model.audio_cfg.clip_samples)
        self.tokenizer = tokenizer or ClapTokenizer(model.context_length)
        self.is_htsat = model.audio_cfg.model_type == "HTSAT"
        # Towers that expose their front end take a standardised log-mel as the model input, so
        # gradient attacks can optimise the spectrogram latent; others take the waveform.
        self.spectrogram_input = hasattr(model.audio_branch, "from_logmel")
        # Attacks run a frozen, faster copy of the tower where it has one (the micro PANN: batch
        # norms folded into convolutions, channels-last; its GroupNorm variant: channels-last
        # only, nothing to fold); ``self.model`` stays as trained.
        branch = model.audio_branch
        self._branch = branch.fused_for_inference() if hasattr(branch, "fused_for_inference") else branch
        self.info = dict(info or {})
        self._fingerprint = fingerprint
        self._tokens = TokenMemo(self.tokenizer)

    @cached_property
    def fingerprint(self) -> str:  # type: ignore[override]
        if self._fingerprint:
            return self._fingerprint
        return weights_fingerprint(self.model)

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale_a.exp().item())

    def tokens(self, texts: Sequence[str]):
        """Token ids, memoised per string; a hub tokenizer (RoBERTa) gives a dict of tensors as is."""
        if not isinstance(self.tokenizer, ClapTokenizer):
            return self.tokenizer(list(texts))
        return self._tokens(texts)

    def _text(self, texts: Sequence[str]) -> torch.Tensor:
        tokens = self.tokens(texts)
        if isinstance(tokens, dict):
            tokens = {k: v.to(self._device) for k, v in tokens.items()}
        return F.normalize(self.model.encode_text(tokens, device=self._device), dim=-1)

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        out = [self._text(list(texts[i : i + ENCODE_BATCH])).float().cpu() for i in range(0, len(texts), ENCODE_BATCH)]
        return torch.cat(out).numpy() if out else np.zeros((0, self.embed_dim), np.float32)

    @torch.no_grad()
    def encode_audio(self, audio: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(audio), ENCODE_BATCH):
            waveform = torch.as_tensor(np.asarray(audio[i : i + ENCODE_BATCH], dtype=np.float32)).to(self._device)
            waveform = fit_length(waveform, self.clip_samples)
            if self.spectrogram_input:  # straight from the front end: no standardise / unstandardise round trip
                embedding = self._tower(self._branch.logmel(waveform))
            else:
                embedding = self._waveform_tower(waveform)
            out.append(F.normalize(self.model.audio_projection(embedding), dim=-1).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, self.embed_dim), np.float32)

    # Rows per batched forward/backward (UMID's inversion chunk): the channels-last convolutions
    # are fastest at a few hundred rows here (activations stay in cache); 1024 was 6x slower.
    gradient_batch = 128

    def _tower(self, logmel: torch.Tensor) -> torch.Tensor:
        return self._branch.from_logmel(logmel.contiguous(memory_format=torch.channels_last))["embedding"]

    def _waveform_tower(self, waveform: torch.Tensor) -> torch.Tensor:
        audio = {"waveform": waveform, "longer": torch.zeros(len(waveform), dtype=torch.bool, device=waveform.device)} \
            if self.is_htsat else waveform
        return self.model.encode_audio(audio, device=self._device)["embedding"]

    def preprocess_media(self, media: np.ndarray) -> torch.Tensor:
        """Waveforms at the model's rate (zero-padded or cut to its clip length) -> model inputs."""
        with torch.no_grad():
            return self.media_from_unit(torch.as_tensor(np.asarray(media, dtype=np.float32)).to(self._device))

    def media_features(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.spectrogram_input:
            embedding = self._tower(inputs * LOGMEL_STD + LOGMEL_MEAN)
        else:
            embedding = self._waveform_tower(inputs)
        return F.normalize(self.model.audio_projection(embedding), dim=-1)

    def media_from_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Waveforms in [-1, 1] -> model inputs, differentiably (through the STFT front end)."""
        x = fit_length(x, self.clip_samples)
        if self.spectrogram_input:
            return (self.model.audio_branch.logmel(x) - LOGMEL_MEAN) / LOGMEL_STD
        return x

    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        with torch.no_grad():
            return self._text(list(texts))

    @cached_property
    def media_input_shape(self) -> tuple[int, ...]:  # type: ignore[override]
        if not self.spectrogram_input:
            return (self.clip_samples,)
        with torch.no_grad():
            return tuple(self.media_from_unit(torch.zeros(1, self.clip_samples, device=self._device)).shape[1:])

    @property
    def unit_shape(self) -> tuple[int, ...]:
        return (self.clip_samples,)

    @cached_property
    def embed_dim(self) -> int:
        return int(self.model.joint_embed_shape)


def fit_length(x: torch.Tensor, samples: int) -> torch.Tensor:
    if x.shape[-1] == samples:
        return x
    if x.shape[-1] > samples:
        return x[..., :samples]
    return F.pad(x, (0, samples - x.shape[-1]))
