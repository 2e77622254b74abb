"""The attack plugin in docs/hooks.md, taken from the docs verbatim, passes check_attack and
runs through a plan: a third party needs nothing but that page."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from mia_bench.plan import build_plan
from mia_bench.records import load_records
from mia_bench.runner import RunConfig, Runner
from mia_bench.testing import check_attack, isolated_plugins, toy_plugin

DOCS = Path(__file__).resolve().parent.parent / "docs" / "hooks.md"


@pytest.fixture
def docs_plugin():
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    code = next(b for b in blocks if "register_attacks" in b)
    assert len(code.strip().splitlines()) < 40, "the docs' example attack plugin should stay under 40 lines"
    module = types.ModuleType("docs_example_plugin")
    sys.modules[module.__name__] = module  # importable by reference, as a worker would need
    exec(compile(code, str(DOCS), "exec"), module.__dict__)
    yield module
    del sys.modules[module.__name__]


def test_docs_example_passes_check_attack(docs_plugin):
    # the planted signal: 40 member vs 40 non-member pairs; the attack's cosine finds it
    assert check_attack(docs_plugin.CaptionNorm(), unit="pair")["auc"] > 0.9


def test_docs_example_runs_in_a_plan(docs_plugin, tmp_path, cache):
    with isolated_plugins(toy_plugin, docs_plugin) as plugins:
        plan = build_plan(["caption-norm"], ["toy", "toy?control=null"], ["toy"], None, [0], plugins=plugins)
        summary = Runner(plan, RunConfig(tmp_path / "out", cache, n_boot=100, progress=False)).run()
    assert not summary.errors and len(summary.finished) == 2
    recs = {r.cell.control: r for r in load_records(tmp_path / "out", plan=plan)}
    assert recs["none"].attack.plugin == "docs_example_plugin"
    assert recs["none"].metrics.auc > 0.9  # planted signal on the trained toy
    null = recs["null"].metrics  # nothing planted: AUC within 4 null standard errors of 0.5
    se = ((null.n_members + null.n_nonmembers + 1) / (12 * null.n_members * null.n_nonmembers)) ** 0.5
    assert abs(null.auc - 0.5) < 4 * se
    assert "docs_example_plugin" in recs["none"].environment["plugins"]
