"""DP-SGD for the targets trained here, through opacus (``pip install -e ".[dp]"``).

:class:`PrivateTraining` is the engine the harness's training loop
(:func:`mia_bench.training.train_loop`) uses when a recipe has ``dp`` set: Poisson
sampling of each batch (every training pair independently with probability
q = batch_size / n, as the accountant assumes), opacus's per-sample gradients
(``GradSampleModule`` hooks), per-sample clipping to ``max_grad_norm`` and Gaussian noise
(``DPOptimizer``), and opacus's accountant (RDP or PRV) for epsilon at ``delta`` after
each epoch, so an early-stopped checkpoint reports its own epsilon.

**What a per-sample gradient is for a contrastive loss.** CLIP's loss couples the pairs of
a batch: pair i's loss contrasts its embeddings against every other pair's. opacus's
hooks compute, for each parameter use inside pair i's own forward path (its image and its
caption through the towers), activation_i x backprop_i, where backprop_i is the gradient
of the *summed batch loss* with respect to pair i's activations. So pair i's per-sample
gradient is the gradient of the whole batch loss flowing through pair i's embeddings; it
sums to the ordinary batch gradient, and it is what gets clipped. But it also depends on
the other pairs' embeddings (they are pair i's negatives), and pair i's data changes the
other pairs' per-sample gradients in turn. The accountant's epsilon is the guarantee for
a mechanism whose clipped units are independent: adding or removing one pair moves the
sum of clipped gradients by at most max_grad_norm. With a coupled loss that pair can move
every clipped term of its batch (sensitivity up to 2 x batch x max_grad_norm in the worst
case), so **the reported epsilon is not a formal guarantee for the contrastive loss**. It
would be one if each pair's gradient depended only on that pair (negatives from public
data only), or for batch-level clipping with group privacy over the batch. The empirical
lower bound (:mod:`mia_bench.dp_audit`) measures what the trained model actually leaks.

**Architecture changes and frozen parameters.** ``nn.MultiheadAttention`` has no per-sample
gradient in opacus; its layers are swapped for opacus's ``DPMultiheadAttention`` (separate
q/k/v Linear layers; the same function) during training, and checkpoints are written back
in the original layout, so DP targets load, attack and cache like any other. BatchNorm
mixes the samples of a batch, so models with BatchNorm (``clip-micro-rn``, ``clap-micro``,
``clap-micro-deep``) are refused with an error naming a GroupNorm architecture instead
(``clap-micro-gn``: the micro CLAP with GroupNorm, its own target and checkpoints).
Parameters opacus has no per-sample gradient for (held directly by open_clip's CLIP and
VisionTransformer modules or by laion_clap's CLAP: positional and class embeddings, the
output projections, the logit scales) and the token embedding table (its per-sample
gradients would be batch x 49,408 x 64 floats, 1.6 GB per step at batch 128) stay at
their seeded random init: they do not depend on the data, so the guarantee is unaffected.
So do parameters the training loss never uses (the trainer names them: laion_clap's
``audio_transform``/``text_transform`` MLPs, for its MLP loss), which opacus would
otherwise fail on for having no per-sample gradient. The names are recorded in the
training facts. Frozen buffers-free front ends (torchlibrosa's STFT and mel filter bank,
``requires_grad=False``) are not trainable and need nothing.

**Sequence-first transformers.** opacus's hooks read dim 0 of every activation as the
batch (``batch_first=True``, as the image and audio towers need). laion_clap's text
``Transformer`` runs sequence-first (``encode_text`` hands it ``(L, N, D)``), so its
Linear and LayerNorm layers would yield L "samples" instead of N (and, where L = N,
silently wrong per-sample gradients). During DP training its forward transposes to
``(N, L, D)`` around the same blocks (the same function, no weights moved) and its
attention layers are converted as batch-first; :meth:`PrivateTraining.restore` puts the
original forward and ``batch_first=False`` attention back. Any other sequence-first
attention is refused.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from mia_bench.errors import IncompatibleError, InvalidOptionsError

ACCOUNTANTS = ("rdp", "prv")


class DPConfig(BaseModel):
    """The recipe's ``dp`` entry (every field is part of the target's cache key)."""

    epsilon: float | None = Field(4.0, gt=0, description="target epsilon at delta after all epochs (None: no noise)")
    noise_multiplier: float | None = Field(None, ge=0, description="noise std / max_grad_norm; overrides epsilon")
    max_grad_norm: float = Field(1.0, gt=0, description="per-sample gradient clipping norm")
    delta: float = Field(1e-5, gt=0, lt=1, description="delta of the (epsilon, delta) guarantee")
    accountant: str = Field("rdp", description="opacus accountant: rdp or prv")


def require_opacus():
    try:
        import opacus
    except ImportError as exc:
        raise ImportError("the dp-sgd defense needs opacus, which is not installed; install the extra: "
                          "pip install -e \".[dp]\" (or pip install \"opacus>=1.5\")") from exc
    return opacus


def epsilon_after(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str) -> float:
    """The accountant's epsilon after ``steps`` Poisson-sampled steps (inf without noise)."""
    if noise_multiplier == 0:
        return math.inf
    from opacus.accountants import create_accountant

    acc = create_accountant(accountant)
    acc.history = [(noise_multiplier, sample_rate, steps)]
    return float(acc.get_epsilon(delta=delta))


def noise_for(cfg: DPConfig, sample_rate: float, steps: int) -> float:
    if cfg.noise_multiplier is not None:
        return cfg.noise_multiplier
    if cfg.epsilon is None:
        return 0.0
    from opacus.accountants.utils import get_noise_multiplier

    return float(get_noise_multiplier(target_epsilon=cfg.epsilon, target_delta=cfg.delta, sample_rate=sample_rate,
                                      steps=steps, accountant=cfg.accountant, epsilon_tolerance=0.005))


def batch_first_dp_attention():
    """opacus's DPMultiheadAttention for batch-first inputs with a 2-D mask.

    opacus 1.6 checks a 2-D ``attn_mask`` against the *batch* size when ``batch_first`` is
    set (so open_clip's causal text mask is refused); this forward does the same attention
    with the same q/k/v/out Linear layers (whose per-sample gradients opacus computes).
    """
    import torch
    from opacus.layers import DPMultiheadAttention

    class BatchFirstDPMultiheadAttention(DPMultiheadAttention):
        def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                    is_causal=False):
            if key_padding_mask is not None or is_causal:
                raise NotImplementedError("key_padding_mask / is_causal are not used by the models trained here")
            b, lq, d = query.shape
            h = self.num_heads

            def heads(x, length):
                return x.view(b, length, h, d // h).transpose(1, 2)

            q = heads(self.qlinear(query), lq)
            k, v = heads(self.klinear(key), key.shape[1]), heads(self.vlinear(value), key.shape[1])
            mask = attn_mask.to(q.dtype) if attn_mask is not None and attn_mask.dtype != torch.bool else attn_mask
            p = self.dropout.p if self.training else 0.0
            out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            return self.out_proj(out.transpose(1, 2).reshape(b, lq, d)), None

    return BatchFirstDPMultiheadAttention


def _swap_attention(module, cls, batch_first_prefixes: tuple[str, ...] = ()) -> list[str]:
    """Replace every nn.MultiheadAttention below ``module`` in place by ``cls`` (same weights).

    ``cls`` computes batch-first: a sequence-first attention is converted only below one of
    ``batch_first_prefixes`` (modules whose forward hands their blocks batch-first tensors
    during DP training, see :func:`_batch_first_sequences`); the original flag is kept
    on the converted layer for :func:`_restore_attention`.
    """
    import torch.nn as nn

    swapped = []
    for name, child in list(module.named_modules()):
        for attr, sub in list(child.named_children()):
            if type(sub) is nn.MultiheadAttention:
                path = f"{name}.{attr}" if name else attr
                if not sub._qkv_same_embed_dim or sub.bias_k is not None:
                    raise IncompatibleError(f"dp-sgd: attention {path} has separate k/v dims or bias_kv, "
                                            "which this engine does not convert")
                if not sub.batch_first and not any(path.startswith(f"{p}.") for p in batch_first_prefixes):
                    raise IncompatibleError(f"dp-sgd: attention {path} is sequence-first (batch_first=False) in a "
                                            "module this engine does not adapt; opacus needs the batch on dim 0")
                dp = cls(sub.embed_dim, sub.num_heads, dropout=sub.dropout, bias=sub.in_proj_bias is not None,
                         batch_first=True)
                dp.load_state_dict({k: v.detach().clone() for k, v in sub.state_dict().items()})
                dp.original_batch_first = sub.batch_first
                setattr(child, attr, dp.to(sub.in_proj_weight.device))
                swapped.append(path)
    return swapped


def _restore_attention(module, cls) -> None:
    import torch
    import torch.nn as nn

    for child in list(module.modules()):
        for attr, sub in list(child.named_children()):
            if isinstance(sub, cls):
                mha = nn.MultiheadAttention(sub.embed_dim, sub.num_heads, dropout=sub.dropout.p,
                                            bias=sub.qlinear.bias is not None,
                                            batch_first=getattr(sub, "original_batch_first", sub.batch_first))
                state = {"in_proj_weight": torch.cat([sub.qlinear.weight, sub.klinear.weight, sub.vlinear.weight]),
                         "out_proj.weight": sub.out_proj.weight, "out_proj.bias": sub.out_proj.bias}
                if sub.qlinear.bias is not None:
                    state["in_proj_bias"] = torch.cat([sub.qlinear.bias, sub.klinear.bias, sub.vlinear.bias])
                mha.load_state_dict({k: v.detach().clone() for k, v in state.items()})
                setattr(child, attr, mha.to(sub.qlinear.weight.device))


def _is_laion_transformer(module) -> bool:
    cls = type(module)
    return cls.__module__.startswith("laion_clap.") and cls.__name__ == "Transformer" and hasattr(module, "resblocks")


def _batch_first_sequences(model) -> list[str]:
    """Give laion_clap's sequence-first text ``Transformer`` a batch-first forward (see the
    module docstring): the same blocks on ``(N, L, D)``, transposed in and out, so its
    ``(L, N, D)`` interface to ``encode_text`` is unchanged. Returns the adapted modules."""
    adapted = []
    for name, module in model.named_modules():
        if _is_laion_transformer(module):

            def forward(x, attn_mask=None, _blocks=module.resblocks):
                x = x.transpose(0, 1)
                for block in _blocks:
                    x = block(x, attn_mask=attn_mask)
                return x.transpose(0, 1)

            module.forward = forward  # an instance attribute: restore() deletes it
            adapted.append(name)
    return adapted


def _unbatch_first_sequences(model, names: list[str]) -> None:
    modules = dict(model.named_modules())
    for name in names:
        if "forward" in vars(modules[name]):
            del modules[name].forward


def original_state(state: dict) -> dict:
    """A DP-form state dict in nn.MultiheadAttention's layout (q/k/v Linear -> in_proj)."""
    import torch

    out, groups = {}, {}
    for key, value in state.items():
        for part in ("qlinear", "klinear", "vlinear"):
            marker = f".{part}."
            if marker in key:
                prefix, kind = key.split(marker)
                groups.setdefault((prefix, kind), {})[part] = value
                break
        else:
            out[key] = value
    for (prefix, kind), parts in groups.items():
        out[f"{prefix}.in_proj_{kind}"] = torch.cat([parts["qlinear"], parts["klinear"], parts["vlinear"]])
    return out


LAYER_NORM_PACKAGES = ("open_clip.", "laion_clap.")


def _register_layer_norm_subclasses(model) -> None:
    """open_clip's and laion_clap's LayerNorm subclasses (they cast around F.layer_norm, the
    same function) get opacus's LayerNorm grad sampler: opacus matches layer types exactly."""
    import torch.nn as nn
    from opacus import GradSampleModule

    base = GradSampleModule.GRAD_SAMPLERS[nn.LayerNorm]
    for module in model.modules():
        cls = type(module)
        if isinstance(module, nn.LayerNorm) and cls.__module__.startswith(LAYER_NORM_PACKAGES):
            GradSampleModule.GRAD_SAMPLERS.setdefault(cls, base)


class PrivateTraining:
    """DP-SGD state for one training run; see the module docstring for what it guarantees."""

    def __init__(self, model, dp: dict, *, n: int, batch_size: int, steps_per_epoch: int, epochs: int,
                 unused: tuple[str, ...] = ()):
        require_opacus()
        import torch.nn as nn
        from opacus import GradSampleModule

        self.cfg = DPConfig(**dp)
        if self.cfg.accountant not in ACCOUNTANTS:
            raise InvalidOptionsError(f"dp-sgd: accountant={self.cfg.accountant!r} is not valid; valid: rdp, prv")
        if batch_size > n:
            raise InvalidOptionsError(f"dp-sgd: batch_size={batch_size} exceeds the {n} training pairs; "
                                      "Poisson sampling needs batch_size <= n")
        norms = sorted({type(m).__name__ for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)})
        if norms:
            raise IncompatibleError(
                f"dp-sgd: the model has {', '.join(norms)}, which mixes the samples of a batch, so per-sample "
                "gradients are undefined. DP needs GroupNorm instead, a different architecture; use a model "
                "without batch norm: clap-micro-gn (the micro CLAP with GroupNorm) for CLAP, clip-micro-vit for CLIP")
        self.n, self.batch_size, self.steps_per_epoch = n, batch_size, steps_per_epoch
        self.sample_rate = batch_size / n
        self.noise_multiplier = noise_for(self.cfg, self.sample_rate, steps_per_epoch * epochs)
        _register_layer_norm_subclasses(model)
        self.attention = batch_first_dp_attention()
        self.batch_first = _batch_first_sequences(model)
        self.swapped = _swap_attention(model, self.attention, tuple(self.batch_first))
        self.frozen = self._freeze(model, unused)
        self.gsm = GradSampleModule(model, batch_first=True, loss_reduction="mean", strict=True)

    def _freeze(self, model, unused: tuple[str, ...]) -> list[str]:
        """Hold fixed what opacus cannot give per-sample gradients for, and the parameters below
        ``unused`` (names or module prefixes the loss never uses): see the module docstring."""
        import torch.nn as nn
        from opacus import GradSampleModule

        frozen = []
        for name, module in model.named_modules():
            supported = type(module) in GradSampleModule.GRAD_SAMPLERS and not isinstance(module, nn.Embedding)
            for pname, p in module.named_parameters(recurse=False):
                full = f"{name}.{pname}" if name else pname
                if p.requires_grad and (not supported or any(full == u or full.startswith(f"{u}.") for u in unused)):
                    p.requires_grad_(False)
                    frozen.append(full)
        return frozen

    def wrap_optimizer(self, opt):
        from opacus.optimizers import DPOptimizer

        # loss_reduction="mean": the summed clipped gradients (+ noise) are divided by the
        # expected batch size q n, as opacus does for Poisson batches.
        return DPOptimizer(opt, noise_multiplier=self.noise_multiplier, max_grad_norm=self.cfg.max_grad_norm,
                           expected_batch_size=self.batch_size, loss_reduction="mean")

    def batch(self, gen):
        """A Poisson batch: each pair independently with probability q (its size varies)."""
        import torch

        return torch.nonzero(torch.rand(self.n, generator=gen) < self.sample_rate).squeeze(1)

    def epsilon(self, epoch: int) -> float | None:
        """Epsilon after ``epoch`` epochs (every step counts, including skipped tiny batches: conservative)."""
        eps = epsilon_after(self.noise_multiplier, self.sample_rate, epoch * self.steps_per_epoch, self.cfg.delta,
                            self.cfg.accountant)
        return None if math.isinf(eps) else eps  # None = no guarantee (JSON has no inf)

    def facts(self, epoch: int) -> dict:
        return {**self.cfg.model_dump(), "noise_multiplier": self.noise_multiplier, "sample_rate": self.sample_rate,
                "steps": epoch * self.steps_per_epoch, "epsilon": self.epsilon(epoch),
                "epsilon_by_epoch": {str(e): self.epsilon(e) for e in range(1, epoch + 1)},
                "per_sample_gradient": "opacus hooks on the summed batch loss (contrastive: coupled, see dp_sgd)",
                "swapped_attention": self.swapped, "batch_first_adapted": self.batch_first,
                "frozen_parameters": self.frozen}

    def export_state(self, model) -> dict:
        return original_state({k: v.detach().cpu() for k, v in model.state_dict().items()})

    def restore(self, model) -> None:
        """Undo the engine's changes: hooks off, original attention layers and forwards, nothing frozen."""
        self.gsm._close()
        _restore_attention(model, self.attention)
        _unbatch_first_sequences(model, self.batch_first)
        names = set(self.frozen)
        for name, p in model.named_parameters():
            if name in names:
                p.requires_grad_(True)
