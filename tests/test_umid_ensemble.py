"""UMID's two scores: the paper's detector ensemble (score=ensemble) and ours (oriented-z).

The ensemble score is checked against an independent computation (explicit loops over
hand-made arrays), with the detectors mocked and with a deterministic subset of real
PyOD detectors; the hard decision is a majority vote; detectors are fitted on the
gibberish reference only; both variants share one inversion cache.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import mia_bench_umid.attack as umid_attack
import mia_bench_umid.decision as decision
from mia_bench.errors import InvalidOptionsError
from mia_bench.registry import validate_options
from mia_bench_umid.attack import UMID
from mia_bench_umid.decision import PAPER_DETECTORS, decide

FEATURES = ["S", "D"]


def _arrays(seed: int = 0, n_ref: int = 50, n_query: int = 12):
    rng = np.random.default_rng(seed)
    ref = {"S": rng.normal(0.8, 0.05, n_ref), "D": rng.gamma(2.0, 0.01, n_ref)}
    query = {"S": rng.normal(0.82, 0.08, n_query), "D": rng.gamma(2.0, 0.012, n_query)}
    return ref, query


class FakeDetector:
    """Outlier score = weighted L1 norm of the standardised features; flags the top 10%
    of the reference. Records what it was fitted on."""

    fitted: list[np.ndarray] = []

    def __init__(self, weight: float):
        self.weight = weight

    def fit(self, x):
        FakeDetector.fitted.append(np.array(x, copy=True))
        self.threshold = np.quantile(self.decision_function(x), 0.9)
        return self

    def decision_function(self, x):
        return np.abs(x[:, 0]) + self.weight * np.abs(x[:, 1])

    def predict(self, x):
        return (self.decision_function(x) > self.threshold).astype(int)


@pytest.fixture
def fake_detectors(monkeypatch):
    weights = {"iforest": 0.5, "lof": 1.0, "ocsvm": 2.0, "ecod": 3.0, "autoencoder": 4.0}
    FakeDetector.fitted = []
    monkeypatch.setattr(decision, "make_detector", lambda name, seed: FakeDetector(weights[name]))
    return weights


def _standardised(ref, query):
    x_ref = np.column_stack([ref[f] for f in FEATURES])
    x = np.column_stack([query[f] for f in FEATURES])
    mu, sd = x_ref.mean(axis=0), x_ref.std(axis=0)
    return (x_ref - mu) / sd, (x - mu) / sd


def _independent_ensemble(ref_scores: list[np.ndarray], query_scores: list[np.ndarray]) -> np.ndarray:
    """Mean over detectors of the fraction of reference scores <= the query's, by explicit loops."""
    out = np.zeros(len(query_scores[0]))
    for r, q in zip(ref_scores, query_scores):
        for i, value in enumerate(q):
            out[i] += sum(1 for v in r if v <= value) / len(r)
    return out / len(ref_scores)


def test_ensemble_score_equals_independent_computation_mocked(fake_detectors):
    ref, query = _arrays()
    names = list(PAPER_DETECTORS)
    out = decide(ref, query, FEATURES, names, "ensemble", 0)
    z_ref, z = _standardised(ref, query)
    score = lambda x, w: np.abs(x[:, 0]) + w * np.abs(x[:, 1])  # noqa: E731
    expected = _independent_ensemble([score(z_ref, fake_detectors[n]) for n in names],
                                      [score(z, fake_detectors[n]) for n in names])
    assert np.allclose(out["score"], expected, atol=1e-12)
    assert np.allclose(out["ensemble"], expected, atol=1e-12)


def test_ensemble_score_equals_independent_computation_real_detectors():
    """ECOD and OCSVM are deterministic: fit them here on the standardised reference and
    recompute the calibrated mean independently."""
    from pyod.models.ecod import ECOD
    from pyod.models.ocsvm import OCSVM

    ref, query = _arrays(seed=3)
    z_ref, z = _standardised(ref, query)
    dets = [ECOD(contamination=0.1).fit(z_ref), OCSVM(gamma="auto", contamination=0.1).fit(z_ref)]
    expected = _independent_ensemble([d.decision_function(z_ref) for d in dets], [d.decision_function(z) for d in dets])
    votes = np.sum([d.predict(z) for d in dets], axis=0)
    out = decide(ref, query, FEATURES, ["ecod", "ocsvm"], "ensemble", 0)
    assert np.allclose(out["score"], expected, atol=1e-9)
    assert out["decision"].tolist() == (votes == 2).tolist()  # majority of two = both


class FlagDetector:
    """A detector whose flags on the queries are fixed: isolates the vote."""

    def __init__(self, flags):
        self.flags = np.array(flags)

    def fit(self, x):
        return self

    def decision_function(self, x):
        return np.zeros(len(x)) if len(x) != len(self.flags) else self.flags.astype(float)

    def predict(self, x):
        return self.flags


@pytest.mark.parametrize("patterns, expected", [
    ([[1, 1, 0, 0, 1], [1, 0, 1, 0, 0], [0, 1, 1, 0, 0]], [True, True, True, False, False]),  # 2 of 3
    ([[1, 1, 0, 0, 1], [1, 0, 1, 0, 0], [0, 1, 1, 0, 0], [1, 1, 1, 0, 0]],
     [True, True, True, False, False]),  # 2 of 4 is a tie, not a majority; 3 of 4 is
])
def test_decision_is_majority_vote(monkeypatch, patterns, expected):
    names = ["iforest", "lof", "ocsvm", "ecod"][: len(patterns)]
    table = dict(zip(names, patterns))
    monkeypatch.setattr(decision, "make_detector", lambda name, seed: FlagDetector(table[name]))
    ref = {"S": np.linspace(0, 1, 20), "D": np.linspace(1, 0, 20) ** 2}
    query = {"S": np.full(5, 0.5), "D": np.full(5, 0.25)}
    out = decide(ref, query, FEATURES, names, "ensemble", 0)
    assert out["decision"].tolist() == expected
    assert out["votes"].tolist() == np.sum(patterns, axis=0).tolist()


def test_oriented_z_gates_the_vote_by_its_sign(monkeypatch):
    monkeypatch.setattr(decision, "make_detector", lambda name, seed: FlagDetector([1, 1, 1]))
    ref = {"S": np.linspace(0, 1, 21), "D": np.linspace(0, 1, 21)}
    query = {"S": np.array([2.0, -1.0, 0.5]), "D": np.array([-1.0, 2.0, 0.5])}  # member side, opposite, centre
    out = decide(ref, query, FEATURES, ["iforest", "lof", "ocsvm"], "oriented-z", 0)
    assert out["decision"].tolist() == [True, False, False]


def test_detectors_fit_on_the_reference_only(fake_detectors):
    ref, query = _arrays(n_ref=40, n_query=9)
    decide(ref, query, FEATURES, list(PAPER_DETECTORS), "ensemble", 0)
    z_ref, z = _standardised(ref, query)
    assert len(FakeDetector.fitted) == len(PAPER_DETECTORS)
    for fitted in FakeDetector.fitted:
        assert np.allclose(fitted, z_ref)  # the standardised reference, all of it, nothing else
        assert not any(np.allclose(row, q) for row in fitted for q in z)


def _toy_run(monkeypatch, tmp_path, options: dict, n: int = 10):
    """Run UMID end to end on the toy world; returns (output, challenge, counters)."""
    from mia_bench.attack import AttackContext
    from mia_bench.cache import Cache
    from mia_bench.runner import strip_challenge
    from mia_bench.testing import ToyTarget, toy_split

    split = toy_split(0, n=n, n_identities=4 * n)
    attack = UMID(validate_options(UMID, "attack", {"k": 2, "steps": 3, "n_reference": 20, **options}))
    challenge, labels = split.challenge("identity")
    challenge = strip_challenge(challenge, attack)
    target = ToyTarget(member_pairs=split.train, seed=0)
    ctx = AttackContext(split.auxiliary, np.random.default_rng(0), 0, Cache(tmp_path), "image", progress=False)
    return attack.run(target, challenge, ctx), challenge, labels


def test_attack_fits_detectors_on_reference_features_only(monkeypatch, tmp_path, fake_detectors):
    """Through the attack: every fit sees the 20 reference rows, the same whatever the
    challenge (so no challenge row and no label can reach it)."""
    _toy_run(monkeypatch, tmp_path, {"score": "ensemble"}, n=10)
    first = list(FakeDetector.fitted)
    FakeDetector.fitted = []
    _toy_run(monkeypatch, tmp_path, {"score": "ensemble"}, n=6)  # another challenge, same reference
    assert len(first) == 5 and all(f.shape == (20, 2) for f in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, FakeDetector.fitted))


def test_both_variants_share_the_inversion_cache(monkeypatch, tmp_path):
    calls = []
    real = umid_attack.invert
    monkeypatch.setattr(umid_attack, "invert", lambda *a, **k: calls.append(1) or real(*a, **k))
    ours, _, labels = _toy_run(monkeypatch, tmp_path, {"score": "oriented-z"})
    assert len(calls) == 2  # queries and reference
    paper, _, _ = _toy_run(monkeypatch, tmp_path, {"score": "ensemble", "detectors": ["ecod", "ocsvm"]})
    assert len(calls) == 2  # the ensemble re-used both inversions
    assert np.array_equal(ours.features["S"], paper.features["S"])
    assert np.allclose(paper.scores, paper.features["ensemble_score"])
    assert np.allclose(ours.scores, paper.features["oriented_z_score"])
    assert paper.info["score"] == "ensemble" and ours.info["score"] == "oriented-z"


def test_autoencoder_runs_on_cpu_and_leaves_global_rng_alone():
    import random

    import torch

    ref, query = _arrays(seed=5, n_ref=60)
    np_state, py_state, torch_state = np.random.get_state()[1].copy(), random.getstate(), torch.get_rng_state()
    hash_seed = os.environ.get("PYTHONHASHSEED")
    a = decide(ref, query, FEATURES, ["autoencoder"], "ensemble", 0)
    b = decide(ref, query, FEATURES, ["autoencoder"], "ensemble", 0)
    assert np.array_equal(a["score"], b["score"])  # seeded: deterministic
    assert np.all((a["score"] >= 0) & (a["score"] <= 1))
    assert np.array_equal(np.random.get_state()[1], np_state) and random.getstate() == py_state
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert os.environ.get("PYTHONHASHSEED") == hash_seed


def test_options_resolve_the_detectors_per_variant():
    paper = validate_options(UMID, "attack", {"score": "ensemble"})
    ours = validate_options(UMID, "attack", {})
    assert paper.detectors == list(PAPER_DETECTORS) and "autoencoder" in paper.detectors
    assert ours.score == "oriented-z" and ours.detectors == ["iforest", "lof", "ocsvm", "ecod"]


def test_bad_score_fails_when_the_plan_is_resolved():
    from mia_bench.plan import build_plan

    with pytest.raises(InvalidOptionsError, match="score='plain'.*ensemble, oriented-z"):
        build_plan(["umid?score=plain"], ["clip-micro-vit"], ["pii-faces"], None, [0])


def test_a_bare_word_for_a_list_option_says_how_to_write_the_list():
    from mia_bench.plan import build_plan

    with pytest.raises(InvalidOptionsError, match=r"features='S': .*write a list in JSON, e\.g\. features=\[\"S\"\]"):
        build_plan(["umid?features=S"], ["clip-micro-vit"], ["pii-faces"], None, [0])
    plan = build_plan(['umid?features=["S"]'], ["clip-micro-vit"], ["pii-faces"], None, [0])
    assert plan.cells
