"""First-party plugin: CLAP targets via laion-clap (small CLAPs trained here, and LAION checkpoints).

Registered through the ``mia_bench`` entry-point group like any third-party plugin.
laion_clap is imported only when a target is built, and then without its package
``__init__`` (see :mod:`.laion`).
"""

from __future__ import annotations

from mia_bench import hookimpl

from .builders import PretrainedClapBuilder, trained_builder

ARCHITECTURES = {
    "mia-micro-clap": "Micro CLAP trained here (laion_clap CLAP): micro PANN audio tower (16 kHz, 1 s, 32 mels, "
                      "convs 16/32/64), text transformer 64 x 2; about 500 pairs/s on 2 CPU cores.",
    "mia-micro-deep-clap": "Micro CLAP trained here, a second architecture of the same size (EncoderMI's "
                           "'architecture unknown' shadows): micro PANN with convs 8/16/32/64, text transformer 64 x 3.",
    "mia-micro-gn-clap": "Micro CLAP trained here, mia-micro-clap without BatchNorm (GroupNorm in the conv blocks, "
                         "a per-mel affine input map; no layer mixes the clips of a batch): the CLAP that DP-SGD "
                         "(defense dp-sgd) can train.",
    "mia-pann6-clap": "Small CLAP trained here: laion_clap's PANN Cnn6 audio tower (16 kHz, 1 s, 64 mels), text "
                      "transformer 128 x 2; about 33 pairs/s on 2 CPU cores (GPU-sized).",
}


@hookimpl
def register_targets(register):
    for arch, description in ARCHITECTURES.items():
        register(trained_builder(arch, description))
    register(PretrainedClapBuilder)
