"""UMID's parts: batched inversion equals per-restart inversion, independent restarts,
reference strings, and the oriented-z decision (the ensemble is tested in test_umid_ensemble.py)."""

from __future__ import annotations

import numpy as np

from mia_bench.testing import ToyTarget
from mia_bench_umid.decision import decide
from mia_bench_umid.inversion import invert, optimise
from mia_bench_umid.reference import gibberish, gibberish_names


def test_batched_forward_backward_equals_restart_by_restart():
    """One batched forward/backward gives each restart exactly its own gradient (the loss is
    a sum of per-row terms), so batching changes cost, not the optimisation. (Adam's first
    update is ~lr*sign(g), so float32 reduction-order noise in near-zero gradients can
    still make long runs drift apart: compare gradients, not 100-step end points.)"""
    import torch

    from mia_bench_umid.inversion import _to_unit

    target = ToyTarget()
    init = np.random.default_rng(0).standard_normal((6, 3, 8, 8)).astype(np.float32)
    goal = torch.from_numpy(target.encode_text([f"a photo of p{i}." for i in range(6)]))

    def grads(rows):
        z = torch.from_numpy(init[rows]).requires_grad_(True)
        emb = target.media_features(target.media_from_unit(_to_unit(z, "pixel", (3, 8, 8))))
        (-(emb * goal[rows]).sum()).backward()
        return z.grad.numpy()

    batched = grads(list(range(6)))
    single = np.concatenate([grads([i]) for i in range(6)])
    assert np.allclose(batched, single, rtol=1e-4, atol=1e-7)
    _, traj = optimise(target, init, goal.numpy(), 5, 0.05, "pixel")
    assert traj.shape == (6, 5) and np.all(traj[:, -1] >= traj[:, 0])  # alignment improves


def test_restarts_are_independent_and_order_free():
    target = ToyTarget()
    texts = ["a photo of Ann Lee.", "a photo of Bo Ek."]
    emb = target.encode_text(texts)
    a = invert(target, emb, 4, 3, 0.05, "pixel", [1, 2])
    b = invert(target, emb[::-1], 4, 3, 0.05, "pixel", [2, 1])
    assert np.allclose(a.embeddings, b.embeddings[::-1], atol=1e-5)  # a query's result ignores its batch
    spread = np.linalg.norm(a.embeddings[0] - a.embeddings[0].mean(0), axis=1)
    assert np.all(spread > 1e-3)  # fresh initialisation per restart: no collapsed variability


def test_gibberish_reference():
    rng = np.random.default_rng(0)
    g = gibberish(100, 10, "printable", rng)
    assert len(g) == 100 and all(len(x) == 10 for x in g) and len(set(g)) == 100
    names = gibberish_names(20, rng)
    assert all(len(n.split()) == 2 and n.split()[0][0].isupper() for n in names)


def test_oriented_decision_counts_only_member_side_deviations():
    rng = np.random.default_rng(0)
    ref = {"S": rng.normal(0, 1, 200), "D": rng.normal(0, 1, 200)}
    query = {"S": np.array([3.0, -3.0, 0.0]), "D": np.array([-3.0, 3.0, 0.0])}  # member-like, opposite, typical
    out = decide(ref, query, ["S", "D"], ["iforest", "ecod"], "oriented-z", 0)
    assert out["score"][0] > out["score"][2] > out["score"][1]
    assert out["decision"].tolist() == [True, False, False]
    plain = decide(ref, query, ["S", "D"], ["iforest", "ecod"], "ensemble", 0)
    assert plain["decision"][1]  # the paper's two-sided ensemble flags the wrong direction too
