"""``mia-bench encodermi-table`` over several seeds: its points are the leaderboard's aggregated
rows (checked against the per-seed records, independently), and its report names the seeds
and flags controls off chance. Runs on the toy plugin, so no model is trained."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mia_bench.plan import build_plan
from mia_bench.results import load_records, load_scores
from mia_bench.runner import RunConfig, Runner
from mia_bench.testing import isolated_plugins, toy_plugin

from mia_bench_encodermi.experiments import BLOCKS, VARIANTS, aggregate_points, write_report
from mia_bench_encodermi.shadow import SETTINGS

SEEDS = (0, 1, 2)


@pytest.fixture
def toy_points(tmp_path, cache):
    from mia_bench import plugins as pl

    pl.load_plugins()
    keep = [(name, pl.load_plugins().get_plugin(name)) for name in ("baselines", "defaults")]
    with isolated_plugins(toy_plugin, *keep):
        plan = build_plan(["csa"], ["toy?strength=0.5", "toy?strength=0.5&control=null"], ["toy"], None,
                          list(SEEDS))
        out = tmp_path / "out"
        Runner(plan, RunConfig(out, cache, n_boot=100, progress=False)).run()
        records = [r for r in load_records(out) if r.cell.unit == "pair"]
        return records, out, aggregate_points(records, out, n_boot=200)


def test_points_are_the_mean_over_seeds_of_each_seeds_auc(toy_points):
    records, out, points = toy_points
    assert {p["control"] for p in points} == {"none", "null"}
    for p in points:
        mine = [r for r in records if r.cell.control == p["control"]]
        assert sorted(p["seeds"]) == list(SEEDS) and len(mine) == len(SEEDS)
        per_seed = {}
        for r in mine:  # independent of the aggregation: the AUC of each seed's stored scores
            z = load_scores(out, r.key)
            per_seed[str(r.cell.seed)] = roc_auc_score(z["labels"].astype(bool), z["scores"])
        assert p["auc_per_seed"] == pytest.approx(per_seed, abs=1e-12)
        assert p["auc"] == pytest.approx(np.mean(list(per_seed.values())), abs=1e-12)
        lo, hi = p["auc_ci"]
        assert lo <= p["auc"] <= hi
    real = next(p for p in points if p["control"] == "none")
    assert real["auc_ci"][0] > 0.5  # the toy's planted signal


def test_report_names_the_seeds_and_flags_an_off_chance_null(toy_points, tmp_path):
    _, _, points = toy_points
    real = next(p for p in points if p["control"] == "none")
    null = next(p for p in points if p["control"] == "null")
    null = {**null, "auc": 0.40, "auc_ci": [0.33, 0.47], "flags": ["control off chance"]}

    def block():
        rows = []
        for variant in VARIANTS:
            for know in SETTINGS:
                opts = dict(zip(("know_data", "know_arch", "know_algorithm"), know))
                rows += [{**real, "variant": variant, "options": opts}, {**null, "variant": variant, "options": opts}]
        return {"target": "toy", "dataset": "toy", "settings": rows,
                "sizes": [{**real, "variant": VARIANTS[0], "train_pairs": 10}],
                "views": [{**real, "variant": VARIANTS[0], "options": {"n_views": 4}}]}

    out = tmp_path / "report"
    write_report({"seeds": list(SEEDS), "blocks": {name: block() for name in BLOCKS}}, out)
    text = (out / "encodermi.md").read_text()
    assert "Seeds 0, 1, 2" in text and "--seed 0 --seed 1 --seed 2" in text
    summary = (out / "summary.md").read_text()
    assert "0.40 [0.33, 0.47] **control off chance**" in summary
    assert "`encodermi-s?know_algorithm=false&know_arch=true&know_data=true` on `toy` (null target): 0.40" in summary
    assert f"settings {len(SETTINGS) * len(VARIANTS)} of {len(SETTINGS) * len(VARIANTS)}" in summary
    saved = json.loads((out / "encodermi.json").read_text())
    assert saved["seeds"] == list(SEEDS) and "git_revision" in saved["environment"]
    assert saved["blocks"]["clip"]["settings"][0]["auc_per_seed"] == real["auc_per_seed"]
