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
