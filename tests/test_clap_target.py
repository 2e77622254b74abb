"""CLAP targets (laion-clap): clean import, training here, caching, gradients, checkpoint loading."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("laion_clap", reason="CLAP targets need the clap extra")
torch = pytest.importorskip("torch")

from mia_bench.cache import Cache  # noqa: E402
from mia_bench.data import Samples  # noqa: E402
from mia_bench.errors import InvalidOptionsError, MissingWeightsError  # noqa: E402

SR = 16000
KINDS = ("a low hum.", "a high whistle.", "a burst of noise.", "a rising chirp.")


def sound_classes(n: int, seed: int = 0) -> Samples:
    """Four sound classes with their captions: a task a working CLAP learns in a few epochs."""
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    make = (lambda: np.sin(2 * np.pi * rng.uniform(90, 150) * t),
            lambda: np.sin(2 * np.pi * rng.uniform(2000, 3000) * t),
            lambda: 0.3 * rng.standard_normal(SR),
            lambda: np.sin(2 * np.pi * np.cumsum(np.linspace(rng.uniform(150, 300), 4000, SR)) / SR))
    rows = [i % 4 for i in range(n)]
    audio = np.stack([0.5 * make[r]() for r in rows]).astype(np.float32)
    return Samples(tuple(f"r{i}" for i in range(n)), (None,) * n, tuple(KINDS[r] for r in rows), audio=audio,
                   sample_rate=SR)


def test_import_keeps_users_out_of_laion_clap_traps():
    """No sys.path pollution, no top-level 'training'/'clap_module', no hub access, real package untouched."""
    code = ("import sys; before = list(sys.path)\n"
            "from mia_bench_clap.laion import clap_module; cm = clap_module()\n"
            "assert sys.path == before, 'sys.path changed'\n"
            "assert 'training' not in sys.modules and 'clap_module' not in sys.modules, 'top-level modules leaked'\n"
            "assert 'laion_clap' not in sys.modules, 'stand-in parent left behind'\n"
            "assert cm.tokenize(['hello world'], context_length=8).shape == (1, 8)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from mia_bench_clap.builders import ClapRecipe, train_cached

    cache = Cache(tmp_path_factory.mktemp("cache"))
    samples = sound_classes(128)
    recipe = ClapRecipe(epochs=12, batch_size=32, warmup_steps=4)
    path, key, was_trained = train_cached("mia-micro-clap", "clip", samples, recipe, 0, cache, "targets", "cpu", None)
    return {"cache": cache, "samples": samples, "recipe": recipe, "path": path, "key": key, "trained": was_trained}


def test_trains_learns_and_caches(trained):
    from mia_bench_clap.builders import load_trained, train_cached

    assert trained["trained"]
    assert sorted(p.name for p in trained["path"].glob("epoch_*.pt")) == [f"epoch_{e:03d}.pt" for e in range(1, 13)]
    target = load_trained(trained["path"], 12, "clap", "cpu")
    s = trained["samples"]
    audio, text = target.encode_audio(s.audio), target.encode_text(list(KINDS))
    np.testing.assert_allclose(np.linalg.norm(audio, axis=1), 1, atol=1e-5)
    truth = np.array([KINDS.index(t) for t in s.texts])
    accuracy = ((audio @ text.T).argmax(1) == truth).mean()
    # chance is 0.25; with 128 clips its SE is 0.04, so 0.5 is over 6 SE above chance
    assert accuracy > 0.5, accuracy
    _, key, again = train_cached("mia-micro-clap", "clip", s, trained["recipe"], 0, trained["cache"], "targets", "cpu",
                                 None)
    assert key == trained["key"] and not again


def test_gradients_reach_the_waveform(trained):
    from mia_bench_clap.builders import load_trained

    target = load_trained(trained["path"], 12, "clap", "cpu")
    x = torch.empty(2, SR).uniform_(-0.1, 0.1).requires_grad_(True)
    emb = target.media_features(target.media_from_unit(x))
    (emb @ target.text_features(["a low hum.", "a rising chirp."]).T).trace().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert target.unit_shape == (SR,)
    # the model input is a standardised log-mel latent (frames x 32 mels) that attacks may optimise
    assert target.media_input_shape[0] == 1 and target.media_input_shape[2] == 32
    z = target.preprocess_media(trained["samples"].audio[:2]).requires_grad_(True)
    target.media_features(z).sum().backward()
    assert float(z.grad.abs().sum()) > 0
    np.testing.assert_allclose(target.media_features(z).detach().numpy(),
                               target.encode_audio(trained["samples"].audio[:2]), atol=1e-6)


def test_fast_tower_computes_the_trained_tower(trained):
    """Attacks run a copy with batch norms folded into convolutions, channels-last: the same
    function (embeddings and input gradients) as the trained, unfused tower."""
    import torch.nn.functional as F

    from mia_bench_clap.builders import load_trained
    from mia_bench_clap.model import LOGMEL_MEAN, LOGMEL_STD

    target = load_trained(trained["path"], 12, "clap", "cpu")
    assert target._branch is not target.model.audio_branch
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in target.model.audio_branch.blocks.modules())  # untouched
    audio = trained["samples"].audio[:6]
    plain = lambda z: F.normalize(target.model.audio_projection(  # noqa: E731
        target.model.audio_branch.from_logmel(z * LOGMEL_STD + LOGMEL_MEAN)["embedding"]), dim=-1)
    z1 = target.preprocess_media(audio).requires_grad_(True)
    z2 = z1.detach().clone().requires_grad_(True)
    fast, slow = target.media_features(z1), plain(z2)
    np.testing.assert_allclose(fast.detach().numpy(), slow.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(target.encode_audio(audio), slow.detach().numpy(), atol=1e-5)
    goal = torch.randn_like(slow)
    (fast * goal).sum().backward()
    (slow * goal).sum().backward()
    # rounding may flip a ReLU or the max over time where two values nearly tie: compare in norm
    diff = float((z1.grad - z2.grad).norm() / z2.grad.norm())
    assert diff < 1e-2, diff
    assert target.gradient_batch == 128


def test_an_embedding_does_not_depend_on_its_batch(trained):
    """A control's AUC must not depend on the order in which the challenge is encoded (members
    first): texts of different lengths padded in one batch, and clips encoded in a shuffled or
    one-row batch, embed as they do alone."""
    from mia_bench_clap.builders import load_trained

    target = load_trained(trained["path"], 12, "clap", "cpu")
    texts = ["Ann.", "This audio is from Maximilian Oberholzer-Schwarzenbach.", "A rising chirp.", "Bo Li"]
    batch, alone = target.encode_text(texts), np.concatenate([target.encode_text([t]) for t in texts])
    np.testing.assert_allclose(batch, alone, atol=1e-5)
    audio = trained["samples"].audio[:8]
    order = np.random.default_rng(0).permutation(8)
    shuffled = np.empty_like(batch, shape=(8, batch.shape[1]))
    shuffled[order] = target.encode_audio(audio[order])
    np.testing.assert_allclose(target.encode_audio(audio), shuffled, atol=1e-5)
    np.testing.assert_allclose(target.encode_audio(audio[:1]), shuffled[:1], atol=1e-5)


def test_group_norm_tower_has_a_frozen_channels_last_copy_computing_the_same_function():
    """clap-micro-gn's tower has no batch norm to fold: its attack copy is the same layers,
    frozen and channels-last, and computes the same embeddings."""
    from mia_bench_clap.audio_branch import MicroPannGN
    from mia_bench_clap.model import ClapTarget, create_random_model

    model = create_random_model("mia-micro-gn-clap", 0)
    assert isinstance(model.audio_branch, MicroPannGN)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    target = ClapTarget(model, "gn", torch.device("cpu"))
    fast = target._branch
    assert fast is not model.audio_branch and not any(p.requires_grad for p in fast.parameters())
    assert fast.blocks[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    audio = sound_classes(4).audio
    with torch.no_grad():
        slow = torch.nn.functional.normalize(model.audio_projection(model.encode_audio(
            torch.from_numpy(audio), device="cpu")["embedding"]), dim=-1)
    np.testing.assert_allclose(target.encode_audio(audio), slow.numpy(), atol=1e-5)


def test_checkpoint_trained_here_loads_as_pretrained(trained):
    from mia_bench.plan import resolve
    from mia_bench.target import BuildRequest

    from mia_bench_clap.builders import load_trained

    ckpt = trained["path"] / "epoch_012.pt"
    builder = resolve("target", f"laion_clap:{ckpt}")
    loaded = builder.build(BuildRequest(split=None, train=None, seed=0, cache=trained["cache"],
                                        defense=resolve("defense", "none")))
    ref = load_trained(trained["path"], 12, "clap", "cpu")
    s = trained["samples"].subset(range(8))
    np.testing.assert_allclose(loaded.encode_audio(s.audio), ref.encode_audio(s.audio), atol=1e-6)
    np.testing.assert_allclose(loaded.encode_text(list(s.texts)), ref.encode_text(list(s.texts)), atol=1e-6)


@pytest.mark.slow
def test_laion_format_checkpoint_round_trips(tmp_path):
    """LAION's own layout (DDP 'module.' prefix, no config inside) with ?amodel=&tmodel=."""
    from mia_bench_clap.laion import clap_module
    from mia_bench_clap.pretrained import load_checkpoint

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = clap_module().create_model("PANN-6", "transformer")[0].eval()
    path = tmp_path / "laion.pt"
    torch.save({"epoch": 1, "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    target = load_checkpoint(path, "laion", "cpu", amodel="PANN-6", tmodel="transformer")
    with torch.no_grad():
        expected = torch.nn.functional.normalize(model.encode_text(
            clap_module().tokenize(["a dog barking"]), device="cpu"), dim=-1)
    np.testing.assert_allclose(target.encode_text(["a dog barking"]), expected.numpy(), atol=1e-5)
    assert target.sample_rate == 48000


def test_checkpoint_errors_say_what_to_do(tmp_path):
    from mia_bench_clap.pretrained import load_checkpoint

    with pytest.raises(MissingWeightsError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt", "x")
    path = tmp_path / "plain.pt"
    torch.save({"state_dict": {"module.x": torch.zeros(1)}}, path)
    with pytest.raises(InvalidOptionsError, match="amodel=HTSAT-tiny"):
        load_checkpoint(path, "x")
    from mia_bench.errors import UnknownComponentError

    with pytest.raises(UnknownComponentError, match="PANN-6"):
        load_checkpoint(path, "x", amodel="no-such-model")


def test_bad_options_fail_at_plan_time():
    from mia_bench.plan import resolve

    with pytest.raises(InvalidOptionsError, match="augment"):
        resolve("target", "clap-micro?augment=crop").check()
    with pytest.raises(InvalidOptionsError, match="algorithm"):
        resolve("target", "clap-micro?algorithm=byol").check()


def test_training_depends_on_the_seed_not_on_process_history(tmp_path):
    """Dropout and SpecAugment draw from torch's global RNG: the loop seeds it, so the cache key
    (which has the seed, not the process history) really determines the weights."""
    from mia_bench.target import weights_fingerprint
    from mia_bench_clap.model import create_random_model
    from mia_bench_clap.recipe import ClapRecipe
    from mia_bench_clap.training import train_clap

    prints = []
    for history in (1, 7):
        torch.manual_seed(history)
        torch.rand(history)
        model = create_random_model("mia-micro-clap", 0)
        train_clap(model, sound_classes(32), ClapRecipe(epochs=1, batch_size=16, warmup_steps=1), 0,
                   _mkdir(tmp_path / str(history)), torch.device("cpu"), {})
        prints.append(weights_fingerprint(model))
    assert prints[0] == prints[1]


def test_a_model_trained_on_another_thread_count_is_another_cache_entry(tmp_path):
    """Float sums split over another number of threads round differently, and training grows
    that into other weights: a serial run (all cores) must not silently reuse a worker's
    (one thread) model, or a result would depend on which of the two ran first. The record's
    training facts say how the model was trained."""
    import json

    from mia_bench_clap.builders import ClapRecipe, train_cached

    cache, samples, recipe = Cache(tmp_path / "cache"), sound_classes(32), ClapRecipe(epochs=1, batch_size=16,
                                                                                     warmup_steps=1)
    before = torch.get_num_threads()
    entries = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            path, key, trained = train_cached("mia-micro-clap", "clip", samples, recipe, 0, cache, "targets", "cpu",
                                              None)
            facts = json.loads((path / "manifest.json").read_text())["meta"]["training"]
            entries[threads] = (key, trained, facts["compute"])
    finally:
        torch.set_num_threads(before)
    assert entries[1][0] != entries[2][0] and entries[1][1] and entries[2][1]
    assert entries[1][2] == {"device": "cpu", "torch_threads": 1} and entries[2][2]["torch_threads"] == 2


def _mkdir(path):
    path.mkdir()
    return path
