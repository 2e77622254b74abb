"""Loading pretrained open_clip weights: registry tags (hub/URL) and local checkpoint files.

Offline with no weights present, both paths fail at once (with ``HF_HUB_OFFLINE=1``)
with a message that names the missing file and how to provide it. Checkpoints are
loaded with ``weights_only=True``: a checkpoint can never run code.
"""

from __future__ import annotations

import json
from pathlib import Path

from mia_bench.errors import InvalidOptionsError, MissingWeightsError


def load_pretrained_model(arch: str, tag: str | None):
    import open_clip

    tags = open_clip.list_pretrained_tags_by_model(arch)
    if not tag:
        raise InvalidOptionsError(
            f"open_clip:{arch} needs a pretrained tag: open_clip:{arch}/TAG with TAG one of {', '.join(tags) or '(none)'}, "
            f"or a local checkpoint: open_clip:/path/to/file.pt?model={arch}"
        )
    if tag not in tags:
        from mia_bench.errors import UnknownComponentError

        raise UnknownComponentError(f"pretrained tag of {arch}", tag, tags)
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    try:
        model = open_clip.create_model(arch, pretrained=tag, output_dict=True, require_pretrained=True)
    except Exception as exc:  # hub/URL failure offline: say what is missing and how to fix it
        source = cfg.get("hf_hub") or cfg.get("url") or "?"
        raise MissingWeightsError(
            f"Pretrained weights for open_clip {arch}/{tag} are not available locally and could not be "
            f"downloaded ({type(exc).__name__}: {str(exc)[:200]}). Missing file: {source} "
            f"(Hugging Face hub repo/file, or URL). To provide it: on a machine with internet run "
            f"`python -c \"import open_clip; open_clip.create_model('{arch}', pretrained='{tag}')\"` to fill the "
            f"HF cache (~/.cache/huggingface) and copy that cache here, or download the file and pass its path: "
            f"open_clip:/path/to/file?model={arch}. Set HF_HUB_OFFLINE=1 to fail fast when offline."
        ) from None
    return model, open_clip.get_tokenizer(arch), {"source": "open_clip registry", "arch": arch, "tag": tag}


def load_checkpoint_model(path: Path, arch: str | None):
    """A local checkpoint: mia-bench's own format (config inside) or a plain state dict + ``model=``."""
    import open_clip
    import torch

    if not path.is_file():
        raise MissingWeightsError(
            f"Checkpoint file not found: {path}. Pass an existing file, e.g. open_clip:/path/to/epoch_030.pt "
            "(a checkpoint of a target trained here lies under the cache's targets/ folder)."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise MissingWeightsError(f"Could not load checkpoint {path} with weights_only=True: {exc}") from None
    state_dict = state.get("state_dict", state) if isinstance(state, dict) else state
    state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}
    import logging

    from .builders import _DropMessage, register_model_configs

    register_model_configs()  # so ?model= may name one of this plugin's architectures (mia-micro-vit...)
    if isinstance(state, dict) and "model_cfg" in state:  # written by mia-bench: self-describing
        arch = arch or state.get("arch")
    if arch:
        quiet = _DropMessage("No pretrained weights loaded")  # they are, just below
        logging.getLogger().addFilter(quiet)
        try:
            with torch.random.fork_rng(devices=[]):  # the random init is overwritten: leave the global RNG alone
                model = open_clip.create_model(arch, output_dict=True)
        finally:
            logging.getLogger().removeFilter(quiet)
    else:
        raise InvalidOptionsError(
            f"Checkpoint {path} does not say its architecture. Pass it: open_clip:{path}?model=ViT-B-32 "
            "(any name from open_clip.list_models())."
        )
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    if missing or unexpected:
        raise InvalidOptionsError(
            f"Checkpoint {path} does not match architecture {arch!r}: {len(missing)} missing keys "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}). Pass the right ?model=."
        )
    info = {"source": "checkpoint", "path": str(path), "arch": arch}
    if isinstance(state, dict) and "epoch" in state:
        info["epoch"] = int(state["epoch"])
    if isinstance(state, dict) and "model_cfg" in state:
        info["model_cfg"] = json.loads(state["model_cfg"]) if isinstance(state["model_cfg"], str) else state["model_cfg"]
    return model, open_clip.get_tokenizer(arch), info
