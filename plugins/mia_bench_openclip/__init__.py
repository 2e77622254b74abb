"""First-party plugin: open_clip targets (small CLIPs trained here, and pretrained models).

Registered through the ``mia_bench`` entry-point group like any third-party plugin.
Heavy imports (torch, open_clip) happen only when a target is built.
"""

from __future__ import annotations

from mia_bench import hookimpl

from .builders import PretrainedClipBuilder, trained_builder

ARCHITECTURES = {
    "mia-micro-vit": "Micro CLIP trained here: ViT image tower (32 px, patch 8, width 64, 2 layers), text width 64 x 2.",
    "mia-micro-rn": "Micro CLIP trained here: ModifiedResNet image tower (32 px, width 16, [1,1,1,1]), text width 64 x 2.",
    "mia-tiny-vit": "Tiny CLIP trained here: ViT (32 px, patch 4, width 128, 4 layers), text width 128 x 4 (GPU-sized).",
}


@hookimpl
def register_targets(register):
    for arch, description in ARCHITECTURES.items():
        register(trained_builder(arch, description))
    register(PretrainedClipBuilder)
