"""Theorem 3.1's direction on the default target: members have higher mean similarity S
and lower mean variability D than non-members, and UMID's AUC clears chance.

Margins follow from the sample size: with 100 members and 100 non-members, a one-sided
Welch t statistic above 2.6 (p < 0.005) is required, so a true null effect fails this
test with probability below 0.5% per feature.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def umid_features(tmp_path_factory):
    from mia_bench.cache import Cache
    from mia_bench.plan import build_plan
    from mia_bench.runner import RunConfig, Runner, strip_challenge

    root = tmp_path_factory.mktemp("umid")
    plan = build_plan(["umid"], ["clip-micro-vit"], ["pii-faces"], None, [0])
    runner = Runner(plan, RunConfig(root / "out", Cache(root / "cache"), progress=False))
    cell = plan.cells[0]
    split = runner.split(cell)
    attack = plan.attack(cell)
    challenge, labels = split.challenge("identity")
    challenge = strip_challenge(challenge, attack)
    context = runner.context_for(cell, split)
    feats = attack.features(runner.target(cell), list(challenge.samples.texts), context, "query")
    return feats, labels


def _welch_t(a: np.ndarray, b: np.ndarray) -> float:
    return (a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)


def test_members_have_higher_similarity(umid_features):
    feats, y = umid_features
    assert _welch_t(feats["S"][y], feats["S"][~y]) > 2.6


def test_members_have_lower_variability(umid_features):
    feats, y = umid_features
    assert _welch_t(feats["D"][~y], feats["D"][y]) > 2.6
