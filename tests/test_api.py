"""The programmatic API plugins and notebooks use: resolve, run, Session."""

from __future__ import annotations

import pytest

from mia_bench import api
from mia_bench.testing import isolated_plugins, toy_plugin


@pytest.fixture
def plugins():
    from mia_bench.plugins import default_plugins

    baselines = default_plugins().load().get_plugin("baselines")
    with isolated_plugins(toy_plugin, ("baselines", baselines)) as own:
        yield own


def test_run_returns_the_grids_records_in_plan_order(plugins, tmp_path, cache):
    records = api.run(["csa", "blind"], ["toy", "toy?control=null"], ["toy"], out=tmp_path / "out", cache=cache,
                      n_boot=50, progress=False, units=("pair",))
    assert [(r.cell.attack, r.cell.control) for r in records] == [("csa", "none"), ("csa", "null"), ("blind", "none")]
    again = api.run(["csa"], ["toy"], ["toy"], out=tmp_path / "out", cache=cache, n_boot=50, progress=False,
                    units=("pair",))
    assert again[0] == records[0]  # resumed from disk, not recomputed


def test_session_scores_attack_specs_on_the_target_and_its_null(plugins, cache):
    session = api.Session("toy", "toy", seed=0, cache=cache.root)
    real = session.score("csa", unit="pair", n_boot=50)
    null = session.score({"name": "csa"}, unit="pair", control="null", n_boot=50)
    assert real.report.auc > 0.9  # the toy target's planted signal, 20 vs 20 member pairs
    n1, n0 = null.report.n_members, null.report.n_nonmembers
    assert abs(null.report.auc - 0.5) < 4 * ((n1 + n0 + 1) / (12 * n1 * n0)) ** 0.5
    assert real.labels.sum() == real.report.n_members


def test_resolve_validates_like_a_plan(plugins):
    with pytest.raises(Exception, match="Did you mean 'csa'"):
        api.resolve("attack", "cas")
