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

# The toy target plants exact-image memorisation: a member pair's image embedding is pulled
# to its caption. Attacks that score the exact member pair must find it; attacks that look
# elsewhere (augmented views, other photos, inversions, no model) must not invent one.
# csa-aug's default (Ko et al.'s drop) finds it too: the exact pair's cosine falls under augmentation.
FINDS_PLANTED = {("csa", "pair"): 0.9, ("lira-online", "pair"): 0.9, ("lira-offline", "pair"): 0.9,
                 ("global-threshold", "pair"): 0.7, ("csa-aug", "pair"): 0.9}
BLIND_TO_PLANTED = {("blind", "pair"), ("blind", "identity"), ("encodermi-v", "pair"),
                    ("encodermi-s", "pair"), ("encodermi-t", "pair"), ("text-knn", "identity"),
                    ("umid", "identity"), ("idia", "identity"), ("csa", "identity")}


def _null_se(n_pos: int, n_neg: int) -> float:
    """Standard error of the AUC of an attack with no signal (Mann-Whitney null)."""
    return ((n_pos + n_neg + 1) / (12 * n_pos * n_neg)) ** 0.5


def _attacks():
    return registry("attack").names()


@pytest.mark.parametrize("name", _attacks())
@pytest.mark.parametrize("unit", ["pair", "identity"])
def test_conformance(name, unit):
    cls = registry("attack").get(name)
    if unit not in cls.units:
        pytest.skip(f"{name} does not score {unit}s")
    attack = cls(validate_options(cls, "attack", FAST_OPTIONS.get(name, {})))
    auc = check_attack(attack, unit=unit)["auc"]  # shapes, determinism, RNG, equivariance, non-constant
    if (name, unit) in FINDS_PLANTED:
        assert auc > FINDS_PLANTED[name, unit], f"{name} misses the planted signal: AUC {auc:.3f}"
    elif (name, unit) in BLIND_TO_PLANTED:
        n = 40 if unit == "pair" else 20  # check_attack's toy split: 20/20 identities, 2 trained photos each
        assert abs(auc - 0.5) < 4 * _null_se(n, n), f"{name} finds a signal it cannot see: AUC {auc:.3f}"


def test_csa_finds_the_planted_signal():
    cls = registry("attack").get("csa")
    # 40 members vs 40 non-members with a strong planted signal: AUC near 1, far above 0.75.
    assert check_attack(cls(None), unit="pair")["auc"] > 0.9
