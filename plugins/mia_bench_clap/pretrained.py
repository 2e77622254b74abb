"""Loading CLAP checkpoints: LAION-CLAP releases and checkpoints written by mia-bench.

Both are the format ``laion_clap`` itself loads: ``torch.save`` of a dict whose
``state_dict`` holds the ``CLAP`` weights (a ``module.`` prefix from DDP is stripped).
mia-bench's checkpoints also carry their config, so they need no options. Everything
loads with ``weights_only=True``: a checkpoint can never run code.
"""

from __future__ import annotations

import json
from pathlib import Path

from mia_bench.errors import InvalidOptionsError, MissingWeightsError

# Keys that newer transformers no longer keep as weights (laion_clap drops them too).
DROPPED_KEYS = ("text_branch.embeddings.position_ids",)
# text branch -> the error of a hub load that failed in this process (each retry would wait
# on the network again, for every cell).
_FAILED: dict[str, str] = {}
HUB_TEXT_MODELS = {"roberta": "roberta-base", "bert": "bert-base-uncased", "bart": "facebook/bart-base"}


def load_checkpoint(path: Path, name: str, device: str = "auto", fingerprint: str | None = None,
                    amodel: str | None = None, tmodel: str = "roberta", fusion: bool = False):
    import torch

    from mia_bench.target import pick_device

    from .model import ClapTarget, build_model

    if not path.is_file():
        raise MissingWeightsError(
            f"CLAP checkpoint not found: {path}. Pass an existing file: a LAION-CLAP release (e.g. "
            "630k-audioset-best.pt from https://huggingface.co/lukewys/laion_clap, downloaded on a machine with "
            "internet) with ?amodel=HTSAT-tiny, or a CLAP trained here (under the cache's targets/ folder).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise MissingWeightsError(f"Could not load CLAP checkpoint {path} with weights_only=True: "
                                  f"{type(exc).__name__}: {str(exc)[:300]}") from None
    weights = state.get("state_dict", state) if isinstance(state, dict) else state
    weights = {k.removeprefix("module."): v for k, v in weights.items() if k.removeprefix("module.") not in DROPPED_KEYS}
    info = {"source": "checkpoint", "path": str(path)}
    tokenizer = None
    if isinstance(state, dict) and "model_cfg" in state:  # written by mia-bench: self-describing
        cfg = json.loads(state["model_cfg"]) if isinstance(state["model_cfg"], str) else state["model_cfg"]
        model = build_model(cfg)
        info.update({"arch": state.get("arch"), "format": state.get("format")})
        if "epoch" in state:
            info["epoch"] = int(state["epoch"])
    else:
        if not amodel:
            raise InvalidOptionsError(
                f"Checkpoint {path} does not say its audio model. Pass it: laion_clap:{path}?amodel=HTSAT-tiny "
                "(LAION-CLAP's general releases; HTSAT-base for the music ones; see laion_clap's model_configs).")
        model, tokenizer = _laion_model(amodel, tmodel, fusion)
        info.update({"amodel": amodel, "tmodel": tmodel, "fusion": fusion})
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise InvalidOptionsError(
            f"Checkpoint {path} does not match the model: {len(missing)} missing keys (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]}). Check ?amodel=, ?tmodel= and ?fusion=.")
    return ClapTarget(model, name, pick_device(device), info, fingerprint=fingerprint, tokenizer=tokenizer)


def _laion_model(amodel: str, tmodel: str, fusion: bool):
    """A LAION-CLAP architecture; its hub text branch (RoBERTa by default) must be in the HF cache."""
    from .laion import clap_module

    cm = clap_module()
    if amodel not in cm.list_models():
        from mia_bench.errors import UnknownComponentError

        raise UnknownComponentError("laion_clap audio model", amodel, cm.list_models())
    if tmodel not in (*HUB_TEXT_MODELS, "transformer"):
        raise InvalidOptionsError(f"tmodel={tmodel!r} is not valid; valid: {', '.join([*HUB_TEXT_MODELS, 'transformer'])}")
    if tmodel in _FAILED:  # the hub failed once in this process: fail at once, with the same words
        raise MissingWeightsError(_FAILED[tmodel])
    try:
        model, _ = cm.create_model(amodel, tmodel, enable_fusion=fusion, fusion_type="aff_2d" if fusion else "None")
        tokenizer = _hub_tokenizer(tmodel) if tmodel in HUB_TEXT_MODELS else None
    except OSError as exc:  # transformers' "couldn't connect / not in cache"
        _FAILED[tmodel] = (
            f"LAION-CLAP's {tmodel} text branch needs {HUB_TEXT_MODELS[tmodel]!r} from the Hugging Face hub, which is "
            f"not in the local cache ({str(exc)[:200]}). On a machine with internet run `python -c \"import transformers; "
            f"transformers.AutoModel.from_pretrained('{HUB_TEXT_MODELS[tmodel]}'); "
            f"transformers.AutoTokenizer.from_pretrained('{HUB_TEXT_MODELS[tmodel]}')\"` and copy ~/.cache/huggingface "
            "here. Set HF_HUB_OFFLINE=1 to fail fast when offline.")
        raise MissingWeightsError(_FAILED[tmodel]) from None
    return model, tokenizer


def _hub_tokenizer(tmodel: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(HUB_TEXT_MODELS[tmodel])

    def tokenize(texts):  # as laion_clap's hook: pad/truncate to 77 tokens
        out = tok(list(texts), padding="max_length", truncation=True, max_length=77, return_tensors="pt")
        return {k: v for k, v in out.items()}

    return tokenize
