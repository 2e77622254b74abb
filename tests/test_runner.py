"""The runner on the toy plugin: threat model enforced, errors recorded, runs resume."""

from __future__ import annotations


import numpy as np
import pytest

from mia_bench.attack import Attack, AttackOutput
from mia_bench.errors import IncompatibleError, InvalidOptionsError, UnknownComponentError
from mia_bench.hookspecs import hookimpl
from mia_bench.plan import build_plan
from mia_bench.results import load_records
from mia_bench.runner import RunConfig, Runner
from mia_bench.testing import ToyTargetBuilder, isolated_plugins, toy_plugin


class Sneaky(Attack):
    """Declares text-only access, then tries to send the person's photos."""

    name = "sneaky"
    units = ("identity",)
    inputs = frozenset({"text"})
    requires = frozenset({"text"})

    def run(self, target, challenge, context):
        target.encode_image(np.zeros((1, 8, 8, 3), np.uint8))
        return AttackOutput(scores=np.zeros(len(challenge)))


class Broken(Attack):
    name = "broken"
    units = ("pair",)

    def run(self, target, challenge, context):
        raise RuntimeError("deliberate failure")


class Interrupting(Attack):
    """Simulates a killed process the first time it runs."""

    name = "interrupting"
    units = ("pair",)
    calls = 0

    def run(self, target, challenge, context):
        Interrupting.calls += 1
        if Interrupting.calls == 1:
            raise KeyboardInterrupt
        return AttackOutput(scores=np.arange(len(challenge), dtype=float))


class NeedsAudio(Attack):
    name = "needs-audio"
    units = ("pair",)
    requires = frozenset({"text", "audio"})

    def run(self, target, challenge, context):  # pragma: no cover - never runs
        raise AssertionError


class _TestAttacks:
    @staticmethod
    @hookimpl
    def register_attacks(register):
        for a in (Sneaky, Broken, Interrupting, NeedsAudio):
            register(a)


@pytest.fixture
def plugins():
    from mia_bench import plugins as pl

    installed = pl.default_plugins().load()
    keep = [(name, installed.get_plugin(name)) for name in ("baselines", "defaults")]
    with isolated_plugins(toy_plugin, _TestAttacks(), *keep):
        ToyTargetBuilder.builds.clear()
        yield


def _run(tmp_path, cache, attacks, targets=("toy", "toy?control=null"), rerun=False):
    plan = build_plan(list(attacks), list(targets), ["toy"], None, [0])
    summary = Runner(plan, RunConfig(tmp_path / "out", cache, n_boot=200, progress=False, rerun=rerun)).run()
    return plan, summary


def _by_attack(tmp_path, control="none"):
    return {r.cell.attack + "/" + r.cell.unit: r for r in load_records(tmp_path / "out")
            if r.cell.control == control}


def test_planted_signal_found_and_null_target_at_chance(plugins, tmp_path, cache):
    _, summary = _run(tmp_path, cache, ["csa"])
    assert not summary.errors
    real, null = _by_attack(tmp_path), _by_attack(tmp_path, "null")
    assert real["csa/pair"].metrics.auc > 0.9
    lo, hi = null["csa/pair"].metrics.auc_ci
    assert lo < 0.5 < hi
    assert ToyTargetBuilder.builds == ["none", "null"]  # one build per target, shared by cells


def test_record_carries_provenance(plugins, tmp_path, cache):
    _run(tmp_path, cache, ["csa"], targets=["toy"])
    rec = _by_attack(tmp_path)["csa/pair"]
    assert rec.attack.version and rec.attack.plugin == "baselines"
    assert rec.target.fingerprint and rec.split.fingerprint
    assert rec.cell.seed == 0
    assert "numpy" in rec.environment["packages"] and "git_revision" in rec.environment
    assert rec.cost.target_queries["text"] == rec.split.n_members + rec.split.n_nonmembers
    assert rec.threat_model.biometric_data_sent is True


def test_text_only_attack_cannot_send_biometric_data(plugins, tmp_path, cache):
    _, summary = _run(tmp_path, cache, ["sneaky"], targets=["toy"])
    (err,) = summary.errors.values()
    assert "ThreatModelViolation" in err and "sends no biometric data" in err


def test_failing_cell_is_recorded_and_the_run_goes_on(plugins, tmp_path, cache):
    _, summary = _run(tmp_path, cache, ["broken", "csa"], targets=["toy"])
    assert len(summary.errors) == 1 and len(summary.finished) == 2
    records = load_records(tmp_path / "out")
    (bad,) = [r for r in records if r.status == "error"]
    assert "deliberate failure" in bad.error and "Traceback" in bad.traceback
    _, again = _run(tmp_path, cache, ["broken", "csa"], targets=["toy"])
    assert len(again.resumed) == 2 and len(again.errors) == 1  # errors are retried, finished cells are not


def test_killed_run_resumes_without_recomputing(plugins, tmp_path, cache):
    Interrupting.calls = 0
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, cache, ["csa", "interrupting"], targets=["toy"])
    done = load_records(tmp_path / "out")
    assert {r.cell.attack for r in done} == {"csa"}
    _, summary = _run(tmp_path, cache, ["csa", "interrupting"], targets=["toy"])
    assert len(summary.resumed) == 2 and len(summary.finished) == 1


def test_blind_baseline_is_cross_fitted_and_at_chance_on_iid_split(plugins, tmp_path, cache):
    _, summary = _run(tmp_path, cache, ["blind"])
    assert not summary.errors
    recs = _by_attack(tmp_path)
    assert {"blind/pair", "blind/identity"} <= set(recs)  # model-free: one cell per unit, not per target
    assert len(load_records(tmp_path / "out")) == 2
    assert recs["blind/pair"].threat_model.biometric_data_sent is False
    assert recs["blind/pair"].cost.target_queries_total == 0


def test_incompatible_capabilities_reported_before_loading(plugins, tmp_path, cache):
    with pytest.raises(IncompatibleError, match=r"needs \['audio'\] but target 'toy' offers"):
        build_plan(["needs-audio"], ["toy"], ["toy"])
    assert ToyTargetBuilder.builds == []


def test_bad_names_and_options(plugins):
    with pytest.raises(UnknownComponentError, match="Did you mean 'csa'"):
        build_plan(["csaa"], ["toy"], ["toy"])
    with pytest.raises(InvalidOptionsError, match=r"has no option 'n_view'. Valid options: aggregate, n_views, ops"):
        build_plan(["csa-aug?n_view=3"], ["toy"], ["toy"])
    with pytest.raises(InvalidOptionsError, match=r"n_views=0"):
        build_plan(["csa-aug?n_views=0"], ["toy"], ["toy"])
    with pytest.raises(InvalidOptionsError, match="control='nul' is not valid"):
        build_plan(["csa"], ["toy?control=nul"], ["toy"])


class Counting(Attack):
    """The planted signal's cosine, counting its runs; ``shift`` is an option, so it keys the output."""

    from pydantic import BaseModel as _Base

    class Options(_Base):
        shift: float = 0.0

    name = "counting"
    units = ("pair",)
    inputs = frozenset({"text", "media"})
    requires = frozenset({"text", "media"})
    runs: list = []

    def run(self, target, challenge, context):
        Counting.runs.append(target.fingerprint)
        t = target.encode_text(list(challenge.samples.texts))
        m = target.encode_image(challenge.samples.images)
        return AttackOutput(scores=(t * m).sum(1) + self.options.shift, info={"shadow_models_trained": 1})


class _Counting:
    @staticmethod
    @hookimpl
    def register_attacks(register):
        register(Counting)


def test_a_warm_run_into_a_fresh_folder_reuses_attack_outputs_but_rerun_and_new_options_recompute(
        plugins, tmp_path, cache):
    from mia_bench.results import load_scores

    def run(out, attacks, rerun=False):
        with isolated_plugins(toy_plugin, _Counting()):
            plan = build_plan(attacks, ["toy", "toy?control=null"], ["toy"], None, [0])
            Runner(plan, RunConfig(tmp_path / out, cache, n_boot=100, progress=False, rerun=rerun)).run()
        return {(r.cell.attack, r.cell.control): r for r in load_records(tmp_path / out)}

    Counting.runs.clear()
    cold = run("cold", ["counting"])
    assert len(Counting.runs) == 2  # the target and its null: their outputs are never shared
    warm = run("warm", ["counting"])
    assert len(Counting.runs) == 2  # nothing recomputed
    for key, rec in cold.items():
        again = warm[key]
        assert again.metrics == rec.metrics and again.cost.target_queries == rec.cost.target_queries
        assert again.cost.seconds == rec.cost.seconds  # the computation's own time, not the cache read
        assert again.info["output_from_cache"] is True and again.cost.shadow_models_trained == 0
        a, b = load_scores(tmp_path / "cold", rec.key), load_scores(tmp_path / "warm", rec.key)
        assert all(np.array_equal(a[k], b[k]) for k in a)
    assert cold[("counting", "none")].metrics.auc != cold[("counting", "null")].metrics.auc
    run("rerun", ["counting"], rerun=True)
    assert len(Counting.runs) == 4
    shifted = run("shifted", ["counting?shift=1.0"])
    assert len(Counting.runs) == 6 and "output_from_cache" not in shifted[("counting?shift=1.0", "none")].info
    # damaged entries are detected by their manifests and recomputed (both cells of "counting")
    for entry in (p for p in (cache.root / "attack-outputs").iterdir() if p.is_dir()):
        (entry / "output.npz").write_bytes(b"damaged")
    repaired = run("repaired", ["counting"])
    assert len(Counting.runs) == 8
    assert repaired[("counting", "none")].metrics == cold[("counting", "none")].metrics
