"""The open_clip target plugin: trained-here checkpoints, pretrained loading offline, errors."""

from __future__ import annotations

import numpy as np
import pytest

from mia_bench.defense import NoDefense
from mia_bench.errors import InvalidOptionsError, MissingWeightsError, UnknownComponentError
from mia_bench.plan import build_plan
from mia_bench.target import BuildRequest
from mia_bench.testing import toy_split


def _builder(spec):
    return next(iter(build_plan(["csa"], [spec], ["pii-faces"]).targets.values())).component


def test_pretrained_tag_offline_names_the_missing_file(cache):
    builder = _builder("open_clip:ViT-B-32/laion400m_e32")
    with pytest.raises(MissingWeightsError) as err:
        builder.build(BuildRequest(None, None, 0, cache, NoDefense()))
    msg = str(err.value)
    assert "ViT-B-32/laion400m_e32" in msg and "Missing file:" in msg and "open_clip:/path/to/file?model=ViT-B-32" in msg


def test_unknown_pretrained_names():
    with pytest.raises(UnknownComponentError, match="Unknown open_clip model 'ViT-B-33'. Did you mean 'ViT-B-32'"):
        _builder("open_clip:ViT-B-33/openai")
    with pytest.raises(InvalidOptionsError, match="needs an argument"):
        _builder("open_clip")


def test_missing_checkpoint_file(cache, tmp_path):
    builder = _builder(f"open_clip:{tmp_path}/nope.pt")
    with pytest.raises(MissingWeightsError, match="Checkpoint file not found"):
        builder.build(BuildRequest(None, None, 0, cache, NoDefense()))


def test_train_checkpoint_reload_and_cache_hit(cache):
    split = toy_split(n=10)
    builder = _builder("clip-micro-rn?epochs=2&checkpoint_every=1&batch_size=16")
    request = BuildRequest(split, split.train, 0, cache, NoDefense(), progress=False)
    target = builder.build(request)
    entry = cache.root / "targets" / target.info["cache_key"]
    assert sorted(p.name for p in entry.glob("epoch_*.pt")) == ["epoch_001.pt", "epoch_002.pt"]
    emb = target.encode_image(split.pairs.samples.images)
    assert emb.dtype == np.float32 and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    again = builder.build(request)  # cache hit: same weights, nothing retrained
    assert again.fingerprint == target.fingerprint
    assert np.allclose(again.encode_image(split.pairs.samples.images), emb, atol=1e-6)
    # a checkpoint saved here loads through the pretrained path, with weights_only=True
    loaded = _builder(f"open_clip:{entry / 'epoch_002.pt'}").build(BuildRequest(None, None, 0, cache, NoDefense()))
    assert np.allclose(loaded.encode_image(split.pairs.samples.images), emb, atol=1e-5)


def test_truncated_checkpoint_is_detected_and_retrained(cache):
    split = toy_split(n=10)
    builder = _builder("clip-micro-rn?epochs=1&batch_size=16")
    request = BuildRequest(split, split.train, 0, cache, NoDefense(), progress=False)
    target = builder.build(request)
    ckpt = cache.root / "targets" / target.info["cache_key"] / "epoch_001.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    rebuilt = builder.build(request)
    assert ckpt.stat().st_size > 1000 and rebuilt.fingerprint == target.fingerprint


def test_gradient_path_is_differentiable(cache):
    import torch

    split = toy_split(n=10)
    target = _builder("clip-micro-vit?epochs=1&batch_size=16").build(
        BuildRequest(split, split.train, 0, cache, NoDefense(), progress=False))
    x = torch.rand(2, *target.media_input_shape, requires_grad=True)
    emb = target.media_features(target.media_from_unit(x))
    emb.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    ref = target.encode_image((x.detach().permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8))
    assert np.allclose(emb.detach().numpy(), ref, atol=0.05)
