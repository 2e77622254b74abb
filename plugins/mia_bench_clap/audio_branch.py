"""A micro PANN audio tower, built from laion_clap's own PANN blocks, that trains in seconds.

laion_clap's smallest audio tower (PANN Cnn6: 4 conv blocks of 64-512 channels, 5 M
parameters, 64 mel bins) trains at about 33 pairs/s on two CPU cores at 16 kHz, 1 s
clips: minutes per epoch. This tower keeps Cnn6's design (torchlibrosa log-mel front
end, batch-normalised mel bins, SpecAugment while training, ``ConvBlock`` stacks with
average pooling, max+mean pooling over time, a ReLU ``fc1`` embedding) with fewer
channels and mel bins, and trains at about 500 pairs/s. It returns
``{"embedding": ...}`` like every laion_clap audio branch, so ``CLAP`` uses it as is.
The front end is differentiable, so gradients reach the waveform (inversion attacks).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .laion import pann_blocks


class MicroPann(nn.Module):
    def __init__(self, audio_cfg, widths: list[int], embed_dim: int):
        super().__init__()
        from torchlibrosa.augmentation import SpecAugmentation
        from torchlibrosa.stft import LogmelFilterBank, Spectrogram

        pann = pann_blocks()
        self.spectrogram_extractor = Spectrogram(
            n_fft=audio_cfg.window_size, hop_length=audio_cfg.hop_size, win_length=audio_cfg.window_size,
            window="hann", center=True, pad_mode="reflect", freeze_parameters=True)
        self.logmel_extractor = LogmelFilterBank(
            sr=audio_cfg.sample_rate, n_fft=audio_cfg.window_size, n_mels=audio_cfg.mel_bins, fmin=audio_cfg.fmin,
            fmax=audio_cfg.fmax, ref=1.0, amin=1e-10, top_db=None, freeze_parameters=True)
        # Cnn6 drops 64-frame stripes of ~1000 frames; these clips have ~50 frames of 20 ms.
        self.spec_augmenter = SpecAugmentation(time_drop_width=8, time_stripes_num=2, freq_drop_width=4,
                                               freq_stripes_num=2)
        self.bn0 = nn.BatchNorm2d(audio_cfg.mel_bins)
        channels = [1, *widths]
        self.blocks = nn.ModuleList(pann.ConvBlock(a, b) for a, b in zip(channels[:-1], channels[1:]))
        self.fc1 = nn.Linear(widths[-1], embed_dim)
        pann.init_bn(self.bn0)
        pann.init_layer(self.fc1)

    def forward(self, waveform: torch.Tensor, mixup_lambda=None, device=None) -> dict:
        return self.from_logmel(self.logmel(waveform))

    def logmel(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(N, T)`` waveform -> ``(N, 1, frames, mels)`` log-mel spectrogram in dB (differentiable)."""
        return self.logmel_extractor(self.spectrogram_extractor(waveform))

    def from_logmel(self, x: torch.Tensor) -> dict:
        """The tower after its front end: inversion attacks may optimise this spectrogram latent."""
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        if self.training:
            x = self.spec_augmenter(x)
        for block in self.blocks:
            x = F.dropout(block(x, pool_size=(2, 2), pool_type="avg"), p=0.2, training=self.training)
        x = x.mean(dim=3)  # over mel bins
        x = x.max(dim=2).values + x.mean(dim=2)  # over time, as Cnn6
        x = F.dropout(x, p=0.5, training=self.training)
        return {"embedding": F.relu(self.fc1(x))}

    def fused_for_inference(self) -> "MicroPann":
        """A frozen copy for attacks, computing the same function faster: each block's
        eval-mode batch norm folded into its convolution (exact up to rounding), in channels-last
        layout. With few channels over a (frames x mels) image, these made UMID's batched
        forward+backward about 4x faster on the CPU (``benchmarks/throughput.py``)."""
        import copy

        from torch.nn.utils.fusion import fuse_conv_bn_eval

        fast = copy.deepcopy(self).eval()
        for block in fast.blocks:
            block.conv1, block.bn1 = fuse_conv_bn_eval(block.conv1, block.bn1), nn.Identity()
            block.conv2, block.bn2 = fuse_conv_bn_eval(block.conv2, block.bn2), nn.Identity()
        for p in fast.parameters():
            p.requires_grad_(False)
        return fast.to(memory_format=torch.channels_last)


AUDIO_BRANCHES = {"micro-pann": MicroPann}
