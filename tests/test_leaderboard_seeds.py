"""The aggregated leaderboard on real runs (toy plugins) and on hand-made records: the export
round-trips to the leaderboard's per-seed AUCs; controls off chance and inverted attacks
are flagged; one attack configuration draws the same stream on every target."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from mia_bench.aggregate import FLAG_INVERTED, FLAG_OFF_CHANCE
from mia_bench.leaderboard import aggregate_tracks, build_tracks, write_leaderboard
from mia_bench.metrics import evaluate
from mia_bench.plan import build_plan
from mia_bench.records import (
    AttackInfo,
    CellRecord,
    CellSpec,
    Cost,
    SplitInfo,
    ThreatModel,
)
from mia_bench.results import load_records, write_cell
from mia_bench.runner import RunConfig, Runner
from mia_bench.testing import isolated_plugins, toy_plugin


@pytest.fixture
def plugins():
    from mia_bench import plugins as pl

    pl.load_plugins()
    keep = [(name, pl.load_plugins().get_plugin(name)) for name in ("baselines", "defaults")]
    with isolated_plugins(toy_plugin, *keep):
        yield


def _toy_run(tmp_path, cache, seeds=(0, 1)):
    plan = build_plan(["csa", "blind"], ["toy?strength=0.5", "toy?strength=0.5&control=null"], ["toy"], None,
                      list(seeds))
    Runner(plan, RunConfig(tmp_path / "out", cache, n_boot=100, progress=False)).run()
    return tmp_path / "out"


def test_export_round_trips_to_the_leaderboard_per_seed_auc(plugins, tmp_path, cache):
    from mia_bench.cli import _register_commands, cli

    out = _toy_run(tmp_path, cache)
    records = load_records(out)
    write_leaderboard(out, records, plots=False, n_boot=100)
    board = json.loads((out / "leaderboard.json").read_text())
    _register_commands()
    for fmt in ("parquet", "csv"):
        dest = tmp_path / f"samples.{fmt}"
        result = CliRunner().invoke(cli, ["export", "--out", str(out), "--format", fmt, "--to", str(dest)])
        assert result.exit_code == 0, result.output
        table = pd.read_parquet(dest) if fmt == "parquet" else pd.read_csv(dest, keep_default_na=False, na_values=[""])
        assert len(table) == sum(r.split.n_members + r.split.n_nonmembers for r in records if r.ok)
        checked = 0
        for track in board:
            for row in track["rows"]:
                for seed_row in row["per_seed"]:
                    cell = table[table["key"] == seed_row["key"]]
                    assert set(cell["seed"]) == {seed_row["seed"]}
                    auc = roc_auc_score(cell["label"].astype(bool), cell["score"])
                    assert auc == pytest.approx(row["auc_per_seed"][str(seed_row["seed"])], abs=1e-12)
                    checked += 1
        assert checked == sum(r.ok for r in records)  # every cell is one seed of one row
    rec = next(r for r in records if r.cell.attack == "csa" and r.cell.control == "null")
    cell = table[table["key"] == rec.key]
    assert set(cell["control"]) == {"null"} and set(cell["split_fingerprint"]) == {rec.split.fingerprint}
    assert set(cell["target_fingerprint"]) == {rec.target.fingerprint}
    assert set(cell["git_revision"]) == {rec.environment["git_revision"]}
    assert set(cell["attack_version"].astype(str)) == {rec.attack.version}


def test_attack_stream_ignores_the_target_but_follows_the_options(plugins, tmp_path, cache):
    plan = build_plan(["csa-aug", "csa-aug?n_views=3"], ["toy", "toy?control=null", "toy?strength=0.2"], ["toy"], None, [0])
    runner = Runner(plan, RunConfig(tmp_path / "out", cache, progress=False))
    split = runner.split(plan.cells[0])
    draws = {}
    for cell in plan.cells:
        draws.setdefault(str(cell.attack), set()).add(int(runner.context_for(cell, split).rng.integers(2**62)))
    assert all(len(v) == 1 for v in draws.values())  # same on every target, control and unit
    assert len({next(iter(v)) for v in draws.values()}) == 2  # other options, other stream


# --- hand-made records ---------------------------------------------------------------
def _write(out, attack, target, control, seed, scores, labels, model_free=False):
    ids = np.array([f"r{i}" for i in range(labels.size)])
    report = evaluate(scores, labels, n_boot=50, seed=seed)
    rec = CellRecord(
        key=f"{attack}-{target}-{control}-{seed}", status="ok",
        cell=CellSpec(attack, target, "world", "none", seed, "pair", control),
        attack=AttackInfo(attack, "1", "hand"),
        split=SplitInfo("fp", "world", "image", "pair", int(labels.sum()), int((~labels).sum())),
        threat_model=ThreatModel(not model_free, ("media",), () if model_free else ("media",), model_free, False),
        metrics=report, cost=Cost(1.0, 0.01))
    write_cell(out, rec, {"scores": scores, "labels": labels, "ids": ids, "groups": ids})
    return rec


def _scores(rng, labels, shift):
    return rng.normal(0, 1, labels.size) + shift * labels


def test_controls_off_chance_and_inverted_attacks_are_flagged(tmp_path):
    out, rng = tmp_path / "out", np.random.default_rng(0)
    labels = np.arange(400) < 200
    records = []
    for seed in (0, 1, 2):
        for attack, real, null in (("leaky", 1.0, 0.6), ("clean", 1.0, 0.0), ("backwards", -0.6, 0.0)):
            records.append(_write(out, attack, "m", "none", seed, _scores(rng, labels, real), labels))
            records.append(_write(out, attack, "m", "null", seed, _scores(rng, labels, null), labels))
        records.append(_write(out, "blind", "m", "none", seed, _scores(rng, labels, 0.5), labels, model_free=True))
    (track,) = aggregate_tracks(records, out, n_boot=300)
    rows = {(r.attack, r.control, r.model_free): r for r in track.rows}
    # n = 200 + 200 per seed, 3 seeds: a 0.6 SD shift (AUC ~0.66) is far outside any chance CI,
    # while no shift leaves 0.5 within it (the CI half-width is ~0.03 at these sizes)
    assert FLAG_OFF_CHANCE in rows[("leaky", True, False)].flags
    assert FLAG_OFF_CHANCE in rows[("blind", False, True)].flags
    assert rows[("clean", True, False)].flags == []
    assert FLAG_INVERTED in rows[("backwards", False, False)].flags
    assert rows[("clean", False, False)].flags == [] and rows[("leaky", False, False)].flags == []
    clean, null = rows[("clean", False, False)], rows[("clean", True, False)]
    assert clean.margin_null == pytest.approx(clean.auc - null.auc)
    lo, hi = clean.margin_null_ci
    assert lo < clean.margin_null < hi and lo > 0
    blind = rows[("blind", False, True)]
    assert clean.margin_blind == pytest.approx(clean.auc - blind.auc) and clean.blind_attack == "blind"
    assert len(rows[("clean", False, False)].per_seed) == 3
    # the per-seed view is untouched: one row per seed
    assert sum(len(t.rows) for t in build_tracks(records)) == len(records)
    md = (write_leaderboard(out, records, plots=False, n_boot=300), (out / "leaderboard.md").read_text())[1]
    assert "CONTROL OFF CHANCE" in md and "INVERTED" in md


def test_summary_names_the_seeds_a_row_stands_on_and_a_failed_null(tmp_path):
    """A row whose seed 1 failed stands on seeds 0 and 2, and a null control that failed on
    every seed reads "error", not as a missing control."""
    out, rng = tmp_path / "out", np.random.default_rng(1)
    labels = np.arange(200) < 100
    records = [_write(out, "flaky", "m", "none", seed, _scores(rng, labels, 1.0), labels) for seed in (0, 2)]
    for seed, control in ((1, "none"), (0, "null"), (1, "null"), (2, "null")):
        rec = CellRecord(key=f"flaky-m-{control}-{seed}", status="error",
                         cell=CellSpec("flaky", "m", "world", "none", seed, "pair", control),
                         attack=AttackInfo("flaky", "1", "hand"), error="RuntimeError: no pseudo-members",
                         threat_model=ThreatModel(True, ("media",), ("media",), False, False))
        write_cell(out, rec, None)
        records.append(rec)
    write_leaderboard(out, records, plots=False, n_boot=100)
    line = next(x for x in (out / "summary.md").read_text().splitlines() if x.startswith("| flaky"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[2] == "0,2 (1 failed)" and cells[4] == "error"


def test_summary_of_a_null_control_run_puts_its_auc_in_the_null_column(tmp_path):
    """A control check runs the null target alone: its AUC must not read as the trained
    target's, and a shifted control is still flagged."""
    out, rng = tmp_path / "out", np.random.default_rng(2)
    labels = np.arange(400) < 200
    # shift 0.6 SD: AUC ~0.66 over 3 x 400 rows, far above any chance CI (half-width ~0.03)
    records = [_write(out, "leaky", "m", "null", seed, _scores(rng, labels, 0.6), labels) for seed in (0, 1, 2)]
    write_leaderboard(out, records, plots=False, n_boot=100)
    line = next(x for x in (out / "summary.md").read_text().splitlines() if x.startswith("| leaky"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    null_auc = float(cells[4].split()[0])
    expected = np.mean([roc_auc_score(labels, np.load(out / "cells" / f"{r.key}.npz")["scores"]) for r in records])
    assert cells[1] == "m" and cells[2] == "0,1,2" and cells[3] == "not run"
    assert null_auc == pytest.approx(expected, abs=5e-4) and "CONTROL OFF CHANCE" in cells[-1]
