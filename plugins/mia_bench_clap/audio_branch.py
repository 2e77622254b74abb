"""A micro PANN audio tower, built from laion_clap's own PANN blocks, that trains in seconds.

laion_clap's smallest audio tower (PANN Cnn6: 4 conv blocks of 64-512 channels, 5 M
parameters, 64 mel bins) trains at about 33 pairs/s on two CPU cores at 16 kHz, 1 s
clips: minutes per epoch. This tower keeps Cnn6's design (torchlibrosa log-mel front
end, batch-normalised mel bins, SpecAugment while training, ``ConvBlock`` stacks with
average pooling, max+mean pooling over time, a ReLU ``fc1`` embedding) with fewer
channels and mel bins, and trains at about 500 pairs/s. It returns
``{"embedding": ...}`` like every laion_clap audio branch, so ``CLAP`` uses it as is.
The front end is differentiable, so gradients reach the waveform (inversion attacks).

:class:`MicroPannGN` is the same tower with its block batch norms replaced by group norms and
its input batch norm by a per-mel affine map, so no layer mixes the samples of a batch: the
architecture DP-SGD can train (``clap-micro-gn``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .laion import pann_blocks

# Model inputs of towers with a spectrogram latent are log-mels standardised by fixed constants
# (as CLIP normalises pixels): about the level and spread of speech at -20 dBFS, in dB.
LOGMEL_MEAN, LOGMEL_STD = -30.0, 20.0


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
        self.bn0 = self._mel_norm(pann, audio_cfg.mel_bins)
        channels = [1, *widths]
        self.blocks = nn.ModuleList(self._block(pann, a, b) for a, b in zip(channels[:-1], channels[1:]))
        self.fc1 = nn.Linear(widths[-1], embed_dim)
        pann.init_layer(self.fc1)

    @staticmethod
    def _mel_norm(pann, mel_bins: int) -> nn.Module:
        """The normalisation of the mel bins, applied to the ``(N, mels, frames, 1)`` transposed input."""
        bn = nn.BatchNorm2d(mel_bins)
        pann.init_bn(bn)
        return bn

    @staticmethod
    def _block(pann, in_channels: int, out_channels: int) -> nn.Module:
        return pann.ConvBlock(in_channels, out_channels)

    def forward(self, waveform: torch.Tensor, mixup_lambda=None, device=None) -> dict:
        return self.from_logmel(self.logmel(waveform))

    def logmel(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(N, T)`` waveform -> ``(N, 1, frames, mels)`` log-mel spectrogram in dB (differentiable)."""
        return self.logmel_extractor(self.spectrogram_extractor(waveform))

    def from_logmel(self, x: torch.Tensor) -> dict:
        """The tower after its front end: inversion attacks may optimise this spectrogram latent."""
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        if self.training:
            # SpecAugment zeroes its stripes in place: on a copy, as writing in place into a layer's
            # output is forbidden where that layer has backward hooks (opacus's, under DP-SGD).
            x = self.spec_augmenter(x.clone())
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


# Groups of each block's GroupNorm. One group (statistics over all of a clip's channels x
# frames x mels, as a layer norm) trained this tower best. Non-DP on pii-voices-small (500
# pairs, batch 64, one run each; ln 64 = 4.16 is the loss at chance), with bn0 as
# GroupNorm(1, mels): loss after 20 epochs 3.66 with 1 group, 4.12 with 2, 4.15 with 8 (60
# epochs: 2.56 vs 3.33), at seed 0; at seed 100, 4.16 after 60 epochs with 1 group (per-bin
# GroupNorm(mels, mels) bn0: 4.16 after 20), so per-clip input normalisation was dropped.
# With bn0 the fixed-start affine: 3.67 (seed 0) and 3.15 (seed 100) after 20 epochs with 1
# group, 3.53 (seed 100) with 8. Batch norm: 2.84 after 20 epochs (seed 0).
BLOCK_GROUPS = 1


class GroupNormConvBlock(nn.Module):
    """laion_clap's PANN ``ConvBlock`` (two bias-free 3x3 convolutions, each normalised and
    ReLU'd, then 2x2 average pooling; the same initialisation) with ``nn.GroupNorm`` in place
    of its batch norms, and out-of-place ReLUs (opacus's backward hooks forbid writing into
    a hooked layer's output in place, which ``ConvBlock``'s ``F.relu_`` does)."""

    def __init__(self, pann, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=(3, 3), padding=(1, 1), bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=(3, 3), padding=(1, 1), bias=False)
        self.norm1 = nn.GroupNorm(BLOCK_GROUPS, out_channels)
        self.norm2 = nn.GroupNorm(BLOCK_GROUPS, out_channels)
        pann.init_layer(self.conv1)
        pann.init_layer(self.conv2)

    def forward(self, x: torch.Tensor, pool_size=(2, 2), pool_type: str = "avg") -> torch.Tensor:
        if pool_type != "avg":
            raise ValueError(f"pool_type={pool_type!r}: this block pools by average only")
        x = F.relu(self.norm1(self.conv1(x)))
        x = F.relu(self.norm2(self.conv2(x)))
        return F.avg_pool2d(x, kernel_size=pool_size)


class MicroPannGN(MicroPann):
    """:class:`MicroPann` without batch norm: no layer uses batch statistics, so DP-SGD can train it.

    Batch norm normalises each channel by statistics of the whole batch while training, so
    one clip's output depends on the other clips of its batch and its per-sample gradient is
    undefined; opacus refuses it. Here:

    * each conv block is :class:`GroupNormConvBlock`, normalising with
      ``nn.GroupNorm(BLOCK_GROUPS, c)``: one group, so each clip's feature map is
      standardised over all its channels x frames x mels (a layer norm over the map) and
      the channels keep their relative levels. One group trained best of 1, 2 and 8
      (measurements at ``BLOCK_GROUPS``), although Wu & He's ImageNet ResNets preferred 32;
    * ``bn0`` (Cnn6's batch norm over mel bins, applied to the transposed
      ``(N, mels, frames, 1)`` input) is a per-mel-bin affine map without statistics: a
      depthwise 1x1 convolution, initialised to standardise the dB log-mel by the fixed
      constants ``LOGMEL_MEAN``/``LOGMEL_STD`` (the level and spread of speech at -20 dBFS,
      which the target's input latent uses too) and trained from there: the form an
      eval-mode batch norm has, with data-independent starting statistics. A per-clip
      normalisation here (``GroupNorm(1, mels)``, or per bin ``GroupNorm(mels, mels)``)
      removes each clip's level and spread, and with it the tower often never left the
      contrastive loss's chance plateau (measurements at ``BLOCK_GROUPS``).

    The GroupNorms start at weight 1, bias 0, as ``init_bn`` sets the batch norms. Nothing
    keeps running statistics: train and eval mode normalise the same way.
    """

    @staticmethod
    def _mel_norm(pann, mel_bins: int) -> nn.Module:
        affine = nn.Conv2d(mel_bins, mel_bins, kernel_size=1, groups=mel_bins)  # per bin: w * x + b
        with torch.no_grad():
            affine.weight.fill_(1 / LOGMEL_STD)
            affine.bias.fill_(-LOGMEL_MEAN / LOGMEL_STD)
        return affine

    @staticmethod
    def _block(pann, in_channels: int, out_channels: int) -> nn.Module:
        return GroupNormConvBlock(pann, in_channels, out_channels)

    def fused_for_inference(self) -> "MicroPannGN":
        """A frozen, channels-last copy for attacks. Nothing to fold: a group norm's statistics
        come from its input, not from fixed running estimates as an eval-mode batch norm's."""
        import copy

        fast = copy.deepcopy(self).eval()
        for p in fast.parameters():
            p.requires_grad_(False)
        return fast.to(memory_format=torch.channels_last)


AUDIO_BRANCHES = {"micro-pann": MicroPann, "micro-pann-gn": MicroPannGN}
