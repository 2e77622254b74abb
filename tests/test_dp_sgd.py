"""DP-SGD defense: the opacus engine, cache keys, epsilon per epoch, and an audited small DP target."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mia_bench.errors import IncompatibleError

pytest.importorskip("opacus")


def _model(arch="mia-micro-vit"):
    from mia_bench_openclip.builders import create_random_model

    return create_random_model(arch, 0)[0]


def test_a_recipe_without_dp_dumps_as_before_so_cache_keys_do_not_move():
    from mia_bench_openclip.recipe import Recipe

    assert "dp" not in Recipe().model_dump()  # every existing target keeps its cache key
    assert Recipe(dp={"epsilon": 4.0}).model_dump()["dp"] == {"epsilon": 4.0}


def test_missing_opacus_is_a_clear_error_naming_the_extra(monkeypatch):
    from mia_bench_defenses import DPSGD, DPSGDOptions

    monkeypatch.setitem(sys.modules, "opacus", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[dp\]"'):
        DPSGD(DPSGDOptions()).apply_recipe({"epochs": 3})


def test_swapped_attention_is_the_same_function_and_exports_the_original_layout():
    import torch
    from mia_bench_defenses.dp_sgd import PrivateTraining

    model, reference = _model(), _model()
    x, t = torch.randn(4, 3, 32, 32), torch.randint(0, 49408, (4, 24))
    engine = PrivateTraining(model, {"epsilon": 4.0}, n=100, batch_size=10, steps_per_epoch=10, epochs=2)
    assert len(engine.swapped) == 4 and "token_embedding.weight" in engine.frozen
    model.eval()
    with torch.no_grad():
        got, want = model(x, t), reference.eval()(x, t)
    for key in ("image_features", "text_features"):
        torch.testing.assert_close(got[key], want[key], atol=1e-5, rtol=1e-4)
    reloaded = _model()
    reloaded.load_state_dict(engine.export_state(model))  # strict: the plain builder loads a DP checkpoint
    engine.restore(model)
    assert type(model.transformer.resblocks[0].attn) is torch.nn.MultiheadAttention
    assert all(p.requires_grad for p in model.parameters())


def test_the_noise_multiplier_meets_the_target_epsilon_and_batch_norm_is_refused():
    from mia_bench_defenses.dp_sgd import PrivateTraining

    engine = PrivateTraining(_model(), {"epsilon": 2.0, "delta": 1e-5}, n=1500, batch_size=128, steps_per_epoch=11,
                             epochs=10)
    assert engine.epsilon(10) == pytest.approx(2.0, abs=0.02)
    assert engine.epsilon(5) < engine.epsilon(10)  # an earlier epoch has spent less
    assert PrivateTraining(_model(), {"epsilon": None}, n=100, batch_size=10, steps_per_epoch=10,
                           epochs=1).epsilon(1) is None  # no noise, no guarantee
    with pytest.raises(IncompatibleError, match="GroupNorm"):
        PrivateTraining(_model("mia-micro-rn"), {"epsilon": 4.0}, n=100, batch_size=10, steps_per_epoch=10, epochs=1)


def test_poisson_batches_have_the_expected_size():
    import torch
    from mia_bench_defenses.dp_sgd import PrivateTraining

    engine = PrivateTraining(_model(), {"epsilon": 4.0}, n=400, batch_size=40, steps_per_epoch=10, epochs=1)
    gen = torch.Generator().manual_seed(0)
    sizes = np.array([len(engine.batch(gen)) for _ in range(200)])
    # Binomial(400, 0.1): mean 40, sd 6; the mean of 200 draws is within 4 standard errors of 40
    assert abs(sizes.mean() - 40) < 4 * 6 / np.sqrt(200) and sizes.std() > 3


DATASET = ("pii-faces?n_identities=70&n_members=20&n_nonmembers=20&n_population=10&photos_per_identity=4"
           "&train_photos=3&evidence_photos=1&n_background=40")


@pytest.mark.slow
def test_audited_dp_target_bound_stays_below_the_accountant_epsilon(tmp_path, cache):
    """On a small target the empirical 95% bound of CSA never exceeds the accountant's epsilon,
    while the same audit on the same recipe without DP does exceed it (so this test can fail)."""
    from mia_bench.dp_audit import epsilon_lower_bound
    from mia_bench.plan import build_plan
    from mia_bench.results import load_records, load_scores
    from mia_bench.runner import RunConfig, Runner

    plan = build_plan(["csa"], ["clip-micro-vit?epochs=15&batch_size=16&warmup_steps=5"], [DATASET],
                      ["none", "dp-sgd?epsilon=1", "dp-sgd?epsilon=1&epoch=3"], [0])
    out = tmp_path / "out"
    assert not Runner(plan, RunConfig(out, cache, n_boot=50, progress=False)).run().errors
    recs = {r.cell.defense: r for r in load_records(out) if r.cell.unit == "pair"}
    full, early_rec = recs["dp-sgd?epsilon=1"], recs["dp-sgd?epoch=3&epsilon=1"]  # specs are stored normalised

    def bound(rec):
        z = load_scores(out, rec.key)
        return epsilon_lower_bound(z["scores"], z["labels"], delta=1e-5)["eps_lb"]

    dp, early = full.target.info["dp"], early_rec.target.info["dp"]
    assert dp["epsilon"] == pytest.approx(1.0, abs=0.01) and early["epsilon"] < dp["epsilon"]
    assert full.target.info["cache_key"] == early_rec.target.info["cache_key"]  # one DP run, two releases
    assert bound(full) <= dp["epsilon"]
    assert bound(early_rec) <= early["epsilon"]
    assert bound(recs["none"]) > dp["epsilon"]  # the audit has the power to catch a violation of epsilon = 1


# --- CLAP: the GroupNorm micro CLAP (clap-micro-gn) under DP-SGD ---------------------------------------------

VOICES = ("pii-voices?n_identities=16&n_members=3&n_nonmembers=3&n_population=3&clips_per_identity=3"
          "&train_photos=2&evidence_photos=1&n_background=60")


def _clap(arch="mia-micro-gn-clap"):
    pytest.importorskip("laion_clap", reason="CLAP targets need the clap extra")
    from mia_bench_clap.model import create_random_model

    return create_random_model(arch, 0)


def test_batch_norm_clap_is_refused_naming_the_group_norm_clap():
    from mia_bench_defenses.dp_sgd import PrivateTraining

    with pytest.raises(IncompatibleError, match=r"BatchNorm2d.*clap-micro-gn"):
        PrivateTraining(_clap("mia-micro-clap"), {"epsilon": 4.0}, n=100, batch_size=10, steps_per_epoch=10, epochs=1)


def test_group_norm_tower_does_not_mix_the_clips_of_a_batch(monkeypatch):
    """A clip's embedding is the same whatever else is in its batch: in eval mode, and in train
    mode with dropout and SpecAugment (random, per clip) off. The batch-norm tower, in train
    mode, does depend on its batch (so this test can fail)."""
    import torch
    import torch.nn.functional as F

    from mia_bench_clap import audio_branch

    monkeypatch.setattr(audio_branch.F, "dropout", lambda x, p=0.5, training=False: x)
    gen = torch.Generator().manual_seed(0)
    clip, others = torch.randn(1, 16000, generator=gen) * 0.1, torch.randn(2, 7, 16000, generator=gen) * 0.3

    def embedding_in(tower, batch):
        with torch.no_grad():
            return tower(torch.cat([clip, batch]))["embedding"][0]

    for arch, mixes in (("mia-micro-gn-clap", False), ("mia-micro-clap", True)):
        tower = _clap(arch).audio_branch
        tower.spec_augmenter = torch.nn.Identity()
        for train in (False, True):
            tower.train(train)
            a, b = embedding_in(tower, others[0]), embedding_in(tower, others[1])
            assert F.relu(a).abs().sum() > 0  # not an all-zero (dead) embedding
            if mixes and train:
                assert not torch.allclose(a, b, atol=1e-4), arch
            else:
                torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_sequence_first_text_tower_gets_per_sample_gradients_of_each_caption():
    """laion_clap's text transformer runs (L, N, D): under the engine each caption's per-sample
    gradient is the gradient of that caption's own loss (a loss that decomposes over captions),
    not a per-position one, and the original layout comes back on restore."""
    import torch
    import torch.nn.functional as F

    from mia_bench_clap.model import ClapTokenizer
    from mia_bench_defenses.dp_sgd import PrivateTraining

    model, reference = _clap(), _clap()
    tokens = ClapTokenizer(model.context_length)([f"voice number {i} says hello" for i in range(5)])
    direction = torch.randn(model.joint_embed_shape, generator=torch.Generator().manual_seed(0))

    def loss(m, t):
        return (F.normalize(m.encode_text(t, device="cpu"), dim=-1) @ direction).mean()

    engine = PrivateTraining(model, {"epsilon": 4.0}, n=100, batch_size=10, steps_per_epoch=10, epochs=1,
                             unused=("audio_transform", "text_transform"))
    assert engine.batch_first == ["text_branch"] and len(engine.swapped) == 2
    model.train()
    with torch.no_grad():  # the adapted tower computes the same function
        torch.testing.assert_close(model.encode_text(tokens, device="cpu"),
                                   reference.eval().encode_text(tokens, device="cpu"), atol=1e-5, rtol=1e-4)
    loss(model, tokens).backward()
    sampled = dict(model.named_parameters())["text_branch.resblocks.0.mlp.c_fc.weight"].grad_sample
    assert sampled.shape[0] == len(tokens)
    weight = dict(reference.named_parameters())["text_branch.resblocks.0.mlp.c_fc.weight"]
    for i in (0, 3):
        (own,) = torch.autograd.grad(loss(reference, tokens[i : i + 1]), weight)
        torch.testing.assert_close(sampled[i], own, atol=1e-6, rtol=1e-4)
    engine.restore(model)
    attn = model.text_branch.resblocks[0].attn
    assert type(attn) is torch.nn.MultiheadAttention and not attn.batch_first and "forward" not in vars(model.text_branch)
    _clap().load_state_dict(engine.export_state(model))  # strict: the plain layout


def test_dp_group_norm_clap_trains_records_epsilon_loads_and_encodes(cache):
    from mia_bench.plan import resolve
    from mia_bench.target import BuildRequest

    pytest.importorskip("laion_clap", reason="CLAP targets need the clap extra")
    provider = resolve("dataset", VOICES)
    split = provider.split(provider.build_world(), seed=0)
    builder = resolve("target", "clap-micro-gn?epochs=2&batch_size=16&warmup_steps=2")
    target = builder.build(BuildRequest(split, split.train, 0, cache, resolve("defense", "dp-sgd?epsilon=10"),
                                        progress=False))
    dp = target.info["dp"]
    assert dp["epsilon"] == pytest.approx(10, abs=0.05) and dp["noise_multiplier"] > 0
    assert dp["batch_first_adapted"] == ["text_branch"] and "audio_transform.sequential.0.weight" in dp["frozen_parameters"]
    assert not any(n.startswith("audio_branch.") for n in dp["frozen_parameters"])  # the whole audio tower trains
    audio = split.pairs.samples.audio[:6]
    emb = target.encode_audio(audio)
    assert emb.shape == (6, 64) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    assert np.isfinite(target.encode_text(["a voice."])).all()
    # the checkpoint is in the plain layout: it loads strictly through the pretrained path
    ckpt = cache.root / "targets" / target.info["cache_key"] / "epoch_002.pt"
    loaded = resolve("target", f"laion_clap:{ckpt}").build(BuildRequest(None, None, 0, cache, resolve("defense", "none")))
    np.testing.assert_allclose(loaded.encode_audio(audio), emb, atol=1e-5)
