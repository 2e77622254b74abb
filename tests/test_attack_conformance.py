"""Every registered attack passes the conformance checks of mia_bench.testing.check_attack:
one finite float64 score per row, deterministic under a seed, global RNG untouched, and
scores that follow their rows when the challenge is permuted."""

from __future__ import annotations

import pytest

from mia_bench.plugins import registry
from mia_bench.registry import validate_options
from mia_bench.testing import check_attack

FAST_OPTIONS = {"umid": {"k": 4, "steps": 5, "n_reference": 30},
                # the toy shadow builder trains with no augmentation, so it has none to draw views from
                **{f"encodermi-{v}": {"views": "fixed"} for v in "vst"}}


def _attacks():
    return registry("attack").names()


@pytest.mark.parametrize("name", _attacks())
@pytest.mark.parametrize("unit", ["pair", "identity"])
def test_conformance(name, unit):
    cls = registry("attack").get(name)
    if unit not in cls.units:
        pytest.skip(f"{name} does not score {unit}s")
    attack = cls(validate_options(cls, "attack", FAST_OPTIONS.get(name, {})))
    result = check_attack(attack, unit=unit)
    assert 0.0 <= result["auc"] <= 1.0


def test_csa_finds_the_planted_signal():
    cls = registry("attack").get("csa")
    # 40 members vs 40 non-members with a strong planted signal: AUC near 1, far above 0.75.
    assert check_attack(cls(None), unit="pair")["auc"] > 0.9
