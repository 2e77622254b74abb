"""Quantile-regression MIA and Ko et al.'s weakly supervised attack, each checked against a
computation written here; both refuse a split without known non-members before any model loads."""

from __future__ import annotations

import numpy as np
import pytest

from mia_bench.attack import AttackContext
from mia_bench.cache import Cache
from mia_bench.data import AuxiliaryData
from mia_bench.errors import InvalidOptionsError
from mia_bench.metrics import auc
from mia_bench.registry import validate_options
from mia_bench.splits import SplitConfig, identity_split
from mia_bench.testing import ToyTarget, toy_split, toy_world
from mia_bench_baselines.quantile import QuantileMIA, QuantileOptions
from mia_bench_baselines.wsa import WSA, WSAOptions, mlp_logit


def _ctx(split, seed=0):
    return AttackContext(split.auxiliary, np.random.default_rng(seed), seed, Cache("/tmp/unused-qwsa"), "image",
                         progress=False)


def _cos(target, samples):
    t, m = target.encode_text(list(samples.texts)), target.encode_image(samples.images)
    return m, t, (m * t).sum(1).astype(np.float64)


@pytest.fixture(scope="module")
def planted():
    split = toy_split(0, n=30, n_identities=120)
    challenge, labels = split.challenge("pair")
    return split, challenge, labels, ToyTarget(member_pairs=split.train, strength=1.0)


@pytest.fixture(scope="module")
def null_world():
    """No membership signal: a target that memorised nothing, 1,200 challenge pairs, 1,600 reference pairs."""
    world = toy_world(n_identities=500, photos=8)
    split = identity_split(world, SplitConfig(n_members=100, n_nonmembers=100, n_population=200, train_photos=6,
                                              evidence_photos=0), seed=0)
    return split, ToyTarget(member_pairs=None)


# --- quantile regression ------------------------------------------------------------------
def test_quantile_margin_is_cosine_minus_the_fitted_quantile(planted):
    from sklearn.ensemble import HistGradientBoostingRegressor

    split, challenge, labels, target = planted
    o = QuantileOptions(cv_folds=0, calibration="none")
    out = QuantileMIA(o).run(target, challenge, _ctx(split))
    rm, rt, rcos = _cos(target, split.auxiliary.population)
    m, t, cos = _cos(target, challenge.samples)
    seed = int(np.random.default_rng(0).integers(2**31 - 1))  # the attack's first draw from its stream
    reg = HistGradientBoostingRegressor(loss="quantile", quantile=0.95, max_iter=200, learning_rate=0.05,
                                        max_leaf_nodes=15, min_samples_leaf=20, early_stopping=False,
                                        random_state=seed).fit(np.hstack([rm, rt]), rcos)
    expected = cos - reg.predict(np.hstack([m, t]))
    np.testing.assert_allclose(out.scores, expected, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(out.decisions, expected > 0)
    np.testing.assert_allclose(out.features["cosine"], cos, atol=1e-6)
    assert auc(out.scores, labels) > 0.9  # the planted signal survives the per-pair threshold


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_quantile_realised_fpr_on_null_data_is_alpha(null_world, alpha):
    """On a target that memorised nothing every challenge pair is a non-member: the share flagged
    is the attack's FPR. Margin: 3.5 standard errors of the difference of two binomial rates
    (1,200 challenge pairs vs a quantile calibrated on 1,600 reference pairs)."""
    split, target = null_world
    challenge, _ = split.challenge("pair")
    out = QuantileMIA(QuantileOptions(alpha=alpha)).run(target, challenge, _ctx(split))
    n_test, n_ref = len(challenge), len(split.auxiliary.population)
    se = np.sqrt(alpha * (1 - alpha) * (1 / n_test + 1 / n_ref))
    assert abs(out.decisions.mean() - alpha) < 3.5 * se, (out.decisions.mean(), alpha, se)
    # on the reference itself the conformal shift leaves at most alpha above (and at most 1/n less)
    assert alpha - 2 / n_ref <= out.info["reference_fpr_held_out"] <= alpha
    assert out.info["alpha"] == alpha and out.info["n_reference"] == n_ref


def test_conformal_calibration_is_a_constant_shift_of_the_bare_quantile(planted):
    split, challenge, _, target = planted
    bare = QuantileMIA(QuantileOptions(calibration="none")).run(target, challenge, _ctx(split))
    cal = QuantileMIA(QuantileOptions()).run(target, challenge, _ctx(split))
    shift = cal.info["calibration_shift"]
    np.testing.assert_allclose(bare.scores - cal.scores, shift, atol=1e-9)
    assert bare.info["calibration_shift"] == 0.0
    assert cal.info["reference_fpr_held_out_uncalibrated"] == bare.info["reference_fpr_held_out"]


def test_conformal_shift_is_the_finite_sample_quantile():
    from mia_bench_baselines.quantile import conformal_shift

    r = np.arange(1.0, 20.0)  # 19 residuals: ceil(20 * 0.9) = 18th smallest
    assert conformal_shift(r, 0.1) == 18.0
    assert conformal_shift(r, 0.01) == 19.0  # rank past n: the largest
    assert np.mean(r > conformal_shift(r, 0.1)) <= 0.1


def test_quantile_features_and_pca_options(planted):
    split, challenge, labels, target = planted
    for opts in ({"features": "text"}, {"features": "image", "pca": 4}, {"reference": "population+background"}):
        out = QuantileMIA(QuantileOptions(**opts)).run(target, challenge, _ctx(split))
        assert out.scores.shape == (len(challenge),) and np.isfinite(out.scores).all()
    with pytest.raises(InvalidOptionsError, match=r"features='pixels' is not valid; valid: image\+text, image, text"):
        QuantileMIA(QuantileOptions(features="pixels")).check()
    with pytest.raises(InvalidOptionsError, match=r"calibration=conformal needs cv_folds >= 2 \(got 0\)"):
        QuantileMIA(QuantileOptions(cv_folds=0)).check()


# --- weakly supervised attack ---------------------------------------------------------------
def test_wsa_pseudo_members_are_the_pairs_above_mean_plus_1_5_std(planted):
    split, challenge, _, target = planted
    out = WSA(WSAOptions()).run(target, challenge, _ctx(split))
    _, _, rcos = _cos(target, split.auxiliary.population)
    _, _, cos = _cos(target, challenge.samples)
    threshold = rcos.mean() + 1.5 * rcos.std()
    assert out.info["threshold"] == pytest.approx(threshold, abs=1e-9)
    np.testing.assert_array_equal(out.features["pseudo_member"], cos >= threshold)
    assert out.info["pseudo_members"] == int((cos >= threshold).sum()) > 0


def test_wsa_quantile_threshold_is_the_non_members_quantile_at_phi_k(planted):
    split, challenge, _, target = planted
    out = WSA(WSAOptions(threshold="quantile")).run(target, challenge, _ctx(split))
    _, _, rcos = _cos(target, split.auxiliary.population)
    _, _, cos = _cos(target, challenge.samples)
    rank = 0.9331927987311419 * (len(rcos) - 1)  # Phi(1.5), numpy's default (linear) quantile by hand
    lo = np.sort(rcos)[int(np.floor(rank))]
    hi = np.sort(rcos)[int(np.ceil(rank))]
    threshold = lo + (rank - np.floor(rank)) * (hi - lo)
    assert out.info["threshold"] == pytest.approx(threshold, abs=1e-12)
    np.testing.assert_array_equal(out.features["pseudo_member"], cos >= threshold)


def test_wsa_quantile_threshold_stays_reachable_where_mean_plus_std_exceeds_one():
    from mia_bench_baselines.wsa import pseudo_threshold

    spread = np.r_[np.full(70, 0.95), np.full(30, -0.2)]  # two clumps: mean + 1.5 std > 1
    assert pseudo_threshold(spread, "mean+std", 1.5) > 1.0
    assert pseudo_threshold(spread, "quantile", 1.5) == pytest.approx(0.95)
    with pytest.raises(ValueError, match=r"valid: mean\+std, quantile"):
        pseudo_threshold(spread, "median", 1.5)


def test_wsa_scores_are_the_logit_of_an_mlp_on_pseudo_members_vs_known_non_members(planted):
    """Transductive, unbalanced, no early stopping: the scores must equal those of an MLP fitted
    here on the hand-made training set, with the random state the attack draws from its stream."""
    from sklearn.neural_network import MLPClassifier

    split, challenge, labels, target = planted
    o = WSAOptions(folds=1, balance=False, early_stopping=False, epochs=5)
    out = WSA(o).run(target, challenge, _ctx(split))
    rm, rt, rcos = _cos(target, split.auxiliary.population)
    m, t, cos = _cos(target, challenge.samples)
    pseudo = np.nonzero(cos >= rcos.mean() + 1.5 * rcos.std())[0]
    pseudo = pseudo[np.argsort(np.asarray(challenge.samples.ids)[pseudo], kind="stable")]
    X = np.vstack([np.hstack([m, t])[pseudo], np.hstack([rm, rt])]).astype(np.float64)
    y = np.r_[np.ones(len(pseudo), int), np.zeros(len(rm), int)]
    rng = np.random.default_rng(0)
    rng.permutation(len(set(challenge.samples.identities)))  # the attack's fold draw
    mlp = MLPClassifier(hidden_layer_sizes=(512, 256, 128), learning_rate_init=1e-3, batch_size=32, max_iter=1)
    for _ in range(5):  # 5 epochs, one pass over the data each, shuffled afresh
        mlp.set_params(random_state=int(rng.integers(2**31 - 1)))
        mlp.partial_fit(X, y, classes=[0, 1])
    p = mlp.predict_proba(np.hstack([m, t]).astype(np.float64))[:, 1]
    np.testing.assert_allclose(1 / (1 + np.exp(-out.scores)), p, atol=1e-9)
    assert auc(out.scores, labels) > 0.8


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_logit_is_the_classifiers_own_probability():
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((60, 5)), np.r_[np.ones(30, int), np.zeros(30, int)]
    mlp = MLPClassifier(hidden_layer_sizes=(7, 4), max_iter=50, random_state=0).fit(X, y)
    np.testing.assert_allclose(1 / (1 + np.exp(-mlp_logit(mlp, X))), mlp.predict_proba(X)[:, 1], atol=1e-12)


def test_wsa_finds_the_planted_signal_when_cross_fitted():
    """Each fold is scored by an MLP that never saw it: it must generalise the alignment of
    member pairs, which takes a few hundred pairs (400 challenge, 800 reference here)."""
    split = toy_split(0, n=100, n_identities=400, photos=8)
    challenge, labels = split.challenge("pair")
    out = WSA(WSAOptions()).run(ToyTarget(member_pairs=split.train), challenge, _ctx(split))
    assert auc(out.scores, labels) > 0.75  # 200 vs 200 pairs: the AUC's standard error is about 0.03
    assert out.info["folds"] == 5


def test_wsa_without_pseudo_members_says_so(planted):
    split, challenge, _, target = planted
    with pytest.raises(InvalidOptionsError, match=r"wsa: 0 challenge pairs reach the pseudo-member threshold .* "
                                                  r"Lower std_multiplier.*threshold=quantile"):
        WSA(WSAOptions(std_multiplier=100.0)).run(target, challenge, _ctx(split))


# --- both: no known non-members -> a clear error before any model loads ------------------------
@pytest.mark.parametrize("cls", [QuantileMIA, WSA])
def test_rejects_a_split_without_population_before_touching_the_target(cls, planted):
    split, challenge, _, _ = planted
    aux = split.auxiliary
    bare = AuxiliaryData(aux.population.subset([]), aux.population_background, aux.names, aux.templates)
    ctx = AttackContext(bare, np.random.default_rng(0), 0, Cache("/tmp/unused-qwsa"), "image")
    attack = cls(validate_options(cls, "attack", {}))
    with pytest.raises(InvalidOptionsError, match=rf"{cls.name} learns from the attacker's known non-member pairs, "
                                                  r"but the split grants 0 .*n_population > 0"):
        attack.run(None, challenge, ctx)  # None: any use of the target would fail differently
    # known non-PII pairs are enough when asked for (the toy world's 10 are too few: stand-ins here)
    with_background = cls(validate_options(cls, "attack", {"reference": "population+background"}))
    with_background.check_auxiliary(AuxiliaryData(bare.population, aux.population, aux.names, aux.templates))


@pytest.mark.parametrize("name", ["quantile-mia", "wsa"])
def test_runner_reports_missing_population_without_building_the_target(name, tmp_path, cache):
    from mia_bench import plugins as pl
    from mia_bench.plan import build_plan
    from mia_bench.results import load_records
    from mia_bench.runner import RunConfig, Runner
    from mia_bench.testing import ToyTargetBuilder, isolated_plugins, toy_plugin

    pl.load_plugins()
    with isolated_plugins(toy_plugin, *[(n, pl.load_plugins().get_plugin(n)) for n in ("baselines", "defaults")]):
        ToyTargetBuilder.builds.clear()
        plan = build_plan([name], ["toy"], ["toy?n_population=0"], None, [0])
        summary = Runner(plan, RunConfig(tmp_path / "out", cache, n_boot=50, progress=False)).run()
        assert ToyTargetBuilder.builds == []  # the error came before any model was built
    (record,) = load_records(tmp_path / "out")
    assert record.status == "error" and "but the split grants 0" in record.error
    assert len(summary.errors) == 1
