"""Leave-one-out over a shadow pool: which models are a target's shadows, why a paired pool
drops the target's partner, and the shadow-count sweep on synthetic statistics."""

from __future__ import annotations

import numpy as np
import pytest

from mia_bench.metrics import auc
from mia_bench_lira.loo import loo_scores, shadow_sets, variant_scorers
from mia_bench_lira.pool import partner, pool_masks
from mia_bench_lira.rmia import pair_log_probability
from mia_bench_lira.scoring import leave_one_out, lira_online

N_MODELS, N_PAIRS = 8, 3000


def _synthetic(splits: str, signal: float, seed: int = 0):
    """Statistics with a per-pair base level, +signal when IN, unit noise; two views."""
    rng = np.random.default_rng(seed)
    masks = pool_masks(N_MODELS, N_PAIRS, seed, splits)
    stats = rng.normal(0, 1, N_PAIRS)[None, :, None] + signal * masks[:, :, None] + rng.normal(0, 1, (N_MODELS, N_PAIRS, 2))
    return stats, masks


def _aucs(stats, masks, k, splits):
    z_rows = np.arange(0, N_PAIRS, 3)
    scorers = variant_scorers(stats, masks, pair_log_probability(stats, "logit"), z_rows, 1.0, 0.3, rmia=True)
    sets = shadow_sets(N_MODELS, k, splits)
    return {label: auc(*loo_scores(N_MODELS, sets, fn, masks)) for label, fn in scorers.items()}


def test_paired_masks_are_complements_and_shadow_sets_stay_balanced():
    masks = pool_masks(N_MODELS, 50, 3)
    for m in range(N_MODELS):
        assert (masks[m] != masks[partner(m)]).all()
    for k in (2, 4, 6):
        for t, shadows in enumerate(shadow_sets(N_MODELS, k, "paired")):
            assert t not in shadows and partner(t) not in shadows and len(shadows) == k
            assert (masks[shadows].sum(0) == k // 2).all()  # exactly half IN whatever the target's labels
    with pytest.raises(ValueError, match="2..6 shadows"):
        shadow_sets(N_MODELS, 8, "paired")


def test_independent_masks_are_balanced_and_not_complements():
    masks = pool_masks(N_MODELS, 400, 3, "independent")
    assert (masks.sum(0) == N_MODELS // 2).all()
    assert not any((masks[m] != masks[m ^ 1]).all() for m in range(N_MODELS))
    assert not (masks[:2] == pool_masks(N_MODELS, 400, 3)[:2]).all()  # its own stream


def test_paired_leave_one_out_is_at_chance_without_signal():
    # 8 targets x 3000 pairs; rows of one pair are correlated, so the margin uses the 3000 pairs:
    # AUC's null standard error for 1500 vs 1500 is about 0.0105
    stats, masks = _synthetic("paired", 0.0)
    for k in (None, 2):
        for label, value in _aucs(stats, masks, k, "paired").items():
            assert abs(value - 0.5) < 4 * 0.0105, (label, k, value)


def test_keeping_the_partner_leaks_the_label_through_the_counts():
    # the design this module avoids: all N-1 others as shadows. A member then has one IN shadow
    # fewer than a non-member, its IN variance is estimated from fewer models (ddof=0 shrinks
    # it), and the score moves with the label although the statistics carry no signal
    stats, masks = _synthetic("paired", 0.0)
    leaky = auc(*leave_one_out(stats, masks, lira_online))
    assert abs(leaky - 0.5) > 8 * 0.0105


def test_a_planted_signal_ranks_like_the_paper_says_and_the_designs_agree():
    paired = _aucs(*_synthetic("paired", 1.0), None, "paired")
    # signal 1, unit noise: the ideal per-pair test reaches Phi(1 / sqrt(2)) = 0.76 per view
    assert all(value > 0.55 for value in paired.values())
    assert paired["rmia-online"] > paired["global-threshold"] + 0.03  # references remove the per-pair level
    # independent masks, all 7 others as shadows (as in the paper's evaluation): where the count
    # leak is small (RMIA's p(x) averages the IN and OUT means; offline fixed variance) the two
    # designs agree within the noise of two independent 1500-vs-1500 AUCs (4 x sqrt(2) x 0.0105)
    independent = _aucs(*_synthetic("independent", 1.0, seed=1), None, "independent")
    for label in ("lira-offline (fixed var)", "global-threshold", "rmia-online", "rmia-offline"):
        assert abs(paired[label] - independent[label]) < 4 * np.sqrt(2) * 0.0105, (label, paired, independent)


def test_the_command_writes_the_loo_and_sweep_tables(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import mia_bench_lira.loo as loo

    def fake_pool(target, dataset, n_models, statistic, queries, seed, splits, progress):
        rng = np.random.default_rng(0)
        masks = pool_masks(n_models, 200, seed, splits)
        stats = rng.normal(0, 1, 200)[None, :, None] + masks[:, :, None] + rng.normal(0, 1, (n_models, 200, 2))
        facts = {"pool_size": 200, "shadow_models": n_models, "shadow_models_trained": 0}
        return stats, masks, np.array([f"id{i // 4}" for i in range(200)]), np.arange(0, 200, 2), facts

    monkeypatch.setattr(loo, "build_pool", fake_pool)
    result = CliRunner().invoke(loo.lira_loo, ["--n-shadows", "4", "--sweep", "2,4", "--n-boot", "20", "--out",
                                               str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    sweep = (tmp_path / "sweep.md").read_text()
    assert "mia-bench lira-loo --n-shadows 6 --sweep 2,4" in sweep  # the pool grew to what 4 shadows need
    assert sweep.count("| rmia-online |") == 2 and sweep.count("| lira-online |") == 2
    assert (tmp_path / "sweep.png").stat().st_size > 0 and (tmp_path / "loo_roc.png").stat().st_size > 0
    short = (tmp_path / "sweep_summary.md").read_text()
    assert "| attack | 2 shadows | 4 shadows |" in short and short.count("| rmia-online |") == 1
    assert "4 others its shadows" in (tmp_path / "loo.md").read_text()
    bad = CliRunner().invoke(loo.lira_loo, ["--sweep", "2,x", "--out", str(tmp_path)])
    assert bad.exit_code != 0 and "comma-separated shadow counts" in bad.output
