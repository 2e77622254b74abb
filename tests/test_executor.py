"""Executors: order and errors, identical results on every executor, resume, the cache lock."""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest

from mia_bench.attack import Attack, AttackOutput
from mia_bench.cache import Cache
from mia_bench.errors import MiaBenchError
from mia_bench.executor import ProcessExecutor, SerialExecutor, make_executor
from mia_bench.hookspecs import hookimpl
from mia_bench.plan import build_plan
from mia_bench.results import load_records, load_scores
from mia_bench.runner import RunConfig, Runner
from mia_bench.testing import ToyTargetBuilder, isolated_plugins, toy_plugin

TESTS_DIR = Path(__file__).resolve().parent


class Broken(Attack):
    name = "broken"
    units = ("pair",)

    def run(self, target, challenge, context):
        raise RuntimeError("deliberate failure")


class ContextProbe(Attack):
    """Scores from the cell's random stream; reports what its context carries."""

    name = "context-probe"
    units = ("pair",)

    def run(self, target, challenge, context):
        info = {"target_spec": context.target_spec, "executor": type(context.executor).__name__}
        return AttackOutput(scores=context.rng.standard_normal(len(challenge)), info=info)


class CountedToy(ToyTargetBuilder):
    """The toy target, logging each build into the cache folder (which workers share)."""

    name = "counted-toy"

    def build(self, request):
        request.cache.root.mkdir(parents=True, exist_ok=True)
        with open(request.cache.root / "builds.log", "a") as f:
            f.write(request.control + "\n")
        return super().build(request)


class _TestPlugin:
    @staticmethod
    @hookimpl
    def register_attacks(register):
        register(Broken)
        register(ContextProbe)

    @staticmethod
    @hookimpl
    def register_targets(register):
        register(CountedToy)


test_plugin = _TestPlugin()  # module level: worker processes import it by reference


@pytest.fixture
def plugins():
    from mia_bench import plugins as pl

    installed = pl.default_plugins().load()
    keep = [(name, installed.get_plugin(name)) for name in ("baselines", "defaults")]
    with isolated_plugins(toy_plugin, test_plugin, *keep):
        yield


@pytest.fixture(scope="module")
def ray_cluster():
    try:
        import ray
    except ImportError:
        pytest.skip("Ray is not installed (pip install 'ray[default]'); the Ray executor is untested")
    # workers inherit the environment the local instance starts with: let them import this module
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])))
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _executor(request, name):
    if name == "ray":
        request.getfixturevalue("ray_cluster")
    return make_executor(name, workers=2)


@pytest.mark.parametrize("name", ["serial", "process", "ray"])
def test_map_keeps_order_and_propagates_errors(request, name):
    ex = _executor(request, name)
    assert ex.map(math.sqrt, [16, 1, 9, 4]) == [4, 1, 3, 2]
    assert ex.map(math.sqrt, []) == []
    with pytest.raises(ValueError, match="math domain error"):
        ex.map(math.sqrt, [4, -1, 9])
    out = ex.map(math.sqrt, [4, -1, 9], return_exceptions=True)
    assert out[0] == 2 and isinstance(out[1], ValueError) and out[2] == 3


def test_make_executor_names():
    assert isinstance(make_executor("serial"), SerialExecutor)
    assert make_executor("process", workers=3).max_workers == 3
    with pytest.raises(MiaBenchError, match="Unknown executor 'dask'; valid: serial, process, ray"):
        make_executor("dask")


def test_cli_executor_options_and_env_vars():
    from click.testing import CliRunner

    from mia_bench.cli import _register_commands, cli

    _register_commands()
    help_text = CliRunner().invoke(cli, ["run", "--help"]).output
    assert "MIA_BENCH_EXECUTOR" in help_text and "MIA_BENCH_RAY_ADDRESS" in help_text
    bad = CliRunner().invoke(cli, ["run"], env={"MIA_BENCH_EXECUTOR": "dask"})
    assert bad.exit_code == 2 and "'dask' is not one of 'serial', 'process', 'ray'" in bad.output


def _run(out, cache, attacks, executor, rerun=False):
    plan = build_plan(attacks, ["counted-toy", "counted-toy?control=null"], ["toy"], None, [0])
    return Runner(plan, RunConfig(out, cache, n_boot=50, progress=False, executor=executor, rerun=rerun)).run()


def _comparable(record) -> dict:
    """A record without what legitimately differs between runs: timings and the clock."""
    d = record.to_json()
    cost = {k: v for k, v in d.get("cost", {}).items() if "seconds" not in k}
    return {**{k: v for k, v in d.items() if k not in ("created", "cost", "environment")}, "cost": cost}


@pytest.mark.parametrize("name", ["process", "ray"])
def test_fan_out_gives_serial_results_and_resumes_without_rebuilding(request, plugins, tmp_path, name):
    cache, attacks = Cache(tmp_path / "cache"), ["csa", "blind", "broken", "context-probe"]
    serial = _run(tmp_path / "serial", cache, attacks, SerialExecutor())
    (cache.root / "builds.log").unlink()
    executor = _executor(request, name)
    t0 = time.perf_counter()
    fanned = _run(tmp_path / "fanned", cache, attacks, executor, rerun=True)  # computed, not the cached outputs
    print(f"{name}: fan-out run {time.perf_counter() - t0:.1f} s")

    assert sorted(fanned.finished) == sorted(serial.finished) and len(fanned.finished) >= 6
    assert fanned.errors == serial.errors and set(fanned.errors.values()) == {"RuntimeError: deliberate failure"}
    assert sorted((cache.root / "builds.log").read_text().split()) == ["none", "null"]  # once per target group
    want = {r.key: r for r in load_records(tmp_path / "serial") if r.status == "ok"}
    got = {r.key: r for r in load_records(tmp_path / "fanned") if r.status == "ok"}
    assert got.keys() == want.keys()
    for key in want:
        assert _comparable(got[key]) == _comparable(want[key])
        a, b = load_scores(tmp_path / "serial", key), load_scores(tmp_path / "fanned", key)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    probe = next(r for r in got.values() if r.cell.attack == "context-probe")
    assert probe.info == {"target_spec": "counted-toy", "executor": "SerialExecutor"}  # no nested pools

    again = _run(tmp_path / "fanned", cache, ["csa", "blind", "context-probe"], executor)
    assert not again.finished and not again.errors and sorted(again.resumed) == sorted(fanned.finished)
    assert sorted((cache.root / "builds.log").read_text().split()) == ["none", "null"]  # nothing rebuilt


def test_failed_task_is_recorded_for_its_cells(plugins, tmp_path):
    """A task that fails as a whole (here: its plugin cannot be imported) marks its cells failed."""

    class Unshippable(ProcessExecutor):
        def map(self, fn, items, *args, **kwargs):
            items = [{**p, "plugins": [("ghost", "no_such_module_xyz")]} for p in items]
            return SerialExecutor().map(fn, items, *args, **kwargs)

    summary = _run(tmp_path / "out", Cache(tmp_path / "cache"), ["csa"], Unshippable())
    assert summary.errors and all("no_such_module_xyz" in e for e in summary.errors.values())
    assert {r.status for r in load_records(tmp_path / "out")} == {"error"}


def _build_once(root: str, counter: str, barrier) -> None:
    def build(work):
        with open(counter, "a") as f:
            f.write("built\n")
        time.sleep(1.0)  # long enough for the other process to arrive while this one builds
        (work / "weights.bin").write_bytes(b"x" * 100)

    barrier.wait()
    Cache(root).get_or_build("things", "k", build)


def test_cache_lock_two_processes_build_once(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier, counter = ctx.Barrier(2), tmp_path / "builds.txt"
    procs = [ctx.Process(target=_build_once, args=(str(tmp_path / "cache"), str(counter), barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert counter.read_text() == "built\n"
    cache = Cache(tmp_path / "cache")
    assert [p.name for p in (cache.root / "things").iterdir()] == ["k"]  # the entry only: no partial, no lock
