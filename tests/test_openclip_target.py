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


class _Killed(Exception):
    pass


def test_killed_training_resumes_to_the_same_weights(tmp_path, monkeypatch):
    """resume.pt (written in the background) restores weights, optimiser and RNG streams: a
    training killed after epoch 1 and restarted ends bit-identical to an uninterrupted one."""
    import torch

    import mia_bench.training as training
    from mia_bench_openclip.builders import create_random_model
    from mia_bench_openclip.recipe import Recipe
    from mia_bench_openclip.training import train_clip

    monkeypatch.setattr(training, "RESUME_EVERY_SECONDS", 0.0)  # resume file after every epoch
    samples = toy_split(n=10).pairs.samples
    recipe = Recipe(epochs=3, batch_size=16, checkpoint_every=1)

    def train(work, progress=None):
        work.mkdir(exist_ok=True)
        model, tokenizer = create_random_model("mia-micro-rn", 0)
        facts = train_clip(model, tokenizer, samples, recipe, 0, work, torch.device("cpu"), {"arch": "x"}, progress)
        return model, facts

    whole, _ = train(tmp_path / "whole")

    def kill_after_first_epoch(epoch, total, loss):
        if epoch == 1:
            raise _Killed

    with pytest.raises(_Killed):
        train(tmp_path / "killed", kill_after_first_epoch)
    assert (tmp_path / "killed" / "resume.pt").exists()  # the writer finished it before the error propagated
    resumed, facts = train(tmp_path / "killed")
    assert facts["resumed_from_epoch"] == 1 and not (tmp_path / "killed" / "resume.pt").exists()
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    kept = torch.load(tmp_path / "killed" / "epoch_003.pt", map_location="cpu", weights_only=True)["state_dict"]
    assert all(torch.equal(kept[k], v) for k, v in whole.state_dict().items())  # the written file is the model


def test_fused_preprocessing_matches_the_op_by_op_normalisation():
    import torch

    from mia_bench_openclip.model import ImagePreprocessor

    images = np.random.default_rng(0).integers(0, 256, (7, 16, 16, 3), dtype=np.uint8)
    mean, std = (0.48, 0.46, 0.41), (0.27, 0.26, 0.28)
    pre = ImagePreprocessor(16, mean, std)
    expected = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) \
        / torch.tensor(std).view(1, 3, 1, 1)
    out = pre(images, torch.device("cpu"))
    assert out.shape == (7, 3, 16, 16) and torch.allclose(out, expected, atol=1e-5)
    resized = ImagePreprocessor(8, mean, std)(images, torch.device("cpu"))  # the resize path still normalises
    assert resized.shape == (7, 3, 8, 8) and abs(float(resized.mean()) - float(expected.mean())) < 0.1
