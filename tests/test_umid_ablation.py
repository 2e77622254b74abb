"""``mia-bench umid-ablation`` over development seeds: rows are aggregated as the leaderboards
aggregate them, and each row's difference from the default is paired (same bootstrap draws),
so a row identical to the default differs by exactly zero. Synthetic per-seed results: the
inversions themselves are tested in test_umid.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mia_bench.aggregate import SeedScores

from mia_bench_umid.ablation import aggregate_ablation, write_report

SEEDS = (100, 101, 102)
N = 100  # members and non-members per seed


def _row(seed: int, variant: str, shift: float, rng) -> dict:
    labels = np.r_[np.ones(N, bool), np.zeros(N, bool)]
    scores = rng.normal(size=2 * N) + shift * labels
    ids = np.array([str(i) for i in range(2 * N)])
    return {"variant": variant, "options": {}, "_scores": SeedScores(seed, scores, labels, ids, scores > 0, ids),
            "auc": roc_auc_score(labels, scores), "accuracy": 0.6, "best_accuracy": 0.65, "tpr_at_1fpr": 0.1,
            "fpr_real_nonmembers": 0.05, "seconds_per_query": 0.2}


def _results():
    out = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        default = _row(seed, "default (S+D, oriented, 4 detectors)", 0.5, rng)
        rows = [default, {**default, "variant": "same as default"}, _row(seed, "stronger", 1.5, rng),
                _row(seed, "null target, default", 0.0, rng)]
        sweeps = {"k": [{**_row(seed, "k", 0.5, rng), "k": k, "features": ["S"]} for k in (2, 8)],
                  "steps": [{**_row(seed, "steps", 0.5, rng), "steps": s, "features": ["S"]} for s in (5, 100)]}
        out.append({"target": "t", "dataset": "d", "seed": seed, "rows": rows, "sweeps": sweeps,
                    "environment": {"git_revision": "abc"}})
    return out


def test_rows_are_seed_means_and_differences_are_paired():
    per_seed = _results()
    agg = aggregate_ablation(per_seed, n_boot=300)
    assert agg["seeds"] == list(SEEDS)
    default, same, stronger, null = agg["rows"]
    for i, row in enumerate(agg["rows"]):
        mine = {str(r["seed"]): r["rows"][i]["auc"] for r in per_seed}
        assert row["auc_per_seed"] == pytest.approx(mine, abs=1e-12)
        assert row["auc"] == pytest.approx(np.mean(list(mine.values())), abs=1e-12)
        assert row["auc_ci"][0] <= row["auc"] <= row["auc_ci"][1]
    assert same["delta_vs_default"] == 0 and same["delta_ci"] == [0, 0] and same["seeds_above_default"] == 0
    assert stronger["delta_ci"][0] > 0 and stronger["seeds_above_default"] == len(SEEDS)
    assert "delta_ci" not in default and "delta_ci" not in null  # the reference and the control are not compared
    assert [p["k"] for p in agg["sweeps"]["k"]] == [2, 8]


def test_report_lists_the_seeds_and_keeps_each_seed_in_the_json(tmp_path):
    per_seed = _results()
    write_report(aggregate_ablation(per_seed, n_boot=100), tmp_path, per_seed)
    text = (tmp_path / "ablation.md").read_text()
    assert "development seeds 100, 101, 102" in text and "--seed 100 --seed 101 --seed 102" in text
    assert "| same as default |" in text and "+0.000 [+0.00, +0.00], 0 of 3" in text
    saved = json.loads((tmp_path / "ablation.json").read_text())
    assert [r["seed"] for r in saved["per_seed"]] == list(SEEDS)
    assert "_scores" not in saved["per_seed"][0]["rows"][0] and saved["environment"] == {"git_revision": "abc"}


def test_a_recheck_of_chosen_rows_names_them_and_runs_no_sweeps(tmp_path):
    per_seed = [{**r, "sweeps": {}, "variants": ["stronger"]} for r in _results()]
    agg = aggregate_ablation(per_seed, n_boot=100)
    assert agg["sweeps"] == {} and agg["variants"] == ["stronger"]
    write_report(agg, tmp_path, per_seed)
    text = (tmp_path / "ablation.md").read_text()
    assert '--variant "stronger"' in text and "auc_vs_k.png" not in text
    assert not (tmp_path / "auc_vs_k.png").exists()


def test_variant_labels_are_checked_before_anything_runs():
    import click

    from mia_bench_umid.ablation import VARIANTS, pick_variants

    assert pick_variants() == VARIANTS
    picked = pick_variants(("space lowres:8", "30 steps, S only", "space lowres:8"))
    assert [label for label, _ in picked] == [VARIANTS[0][0], "space lowres:8", "30 steps, S only"]
    with pytest.raises(click.BadParameter, match="'lowres 8' is not a row of the ablation; valid: .*'space lowres:8'"):
        pick_variants(("lowres 8",))
