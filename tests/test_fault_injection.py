"""Fault injection: every cache and result file kind, damaged every way (truncated, empty,
garbage, wrong JSON shape), is detected, reported with its path, and rebuilt (issue 18, item 6).

File kinds: a cache entry's ``manifest.json`` and its payload files (worlds, trained
targets and shadow models, LiRA statistics, EncoderMI features all go through
``Cache.get_or_build``), a real world entry, UMID's feature files (kept outside
manifests), the fingerprint sidecars, and a results folder's ``cells/KEY.json`` and
``cells/KEY.npz`` (resume, leaderboard and plots).
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from mia_bench.cache import MANIFEST, Cache, load_cached_file, path_fingerprint
from mia_bench.plan import build_plan
from mia_bench.results import cell_paths, finished_record, load_records
from mia_bench.runner import RunConfig, Runner
from mia_bench.testing import isolated_plugins, toy_plugin

DAMAGE = {
    "truncated": lambda b: b[: len(b) // 2],
    "empty": lambda b: b"",
    "garbage": lambda b: b"\x00\xffnot what was written\x13" * 4,
}
JSON_SHAPES = {"object without fields": b"{}", "list": b"[]", "files as list": b'{"files": [], "meta": {}}',
               "entry without sha": b'{"files": {"payload.bin": {"size": 3}}, "meta": {}}'}
KINDS = ("worlds", "targets", "lira-stats", "encodermi-features")


def _damage(path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes(JSON_SHAPES[how] if how in JSON_SHAPES else DAMAGE[how](data))


def _builder(calls: list):
    def build(work):
        calls.append(work)
        (work / "payload.bin").write_bytes(b"payload " * 64)
        return {"built": len(calls)}

    return build


def _warned(caplog, path) -> bool:
    return any(str(path) in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", [*DAMAGE, *JSON_SHAPES])
def test_damaged_manifest_is_named_and_rebuilt(tmp_path, caplog, kind, how):
    cache, calls = Cache(tmp_path), []
    entry = cache.get_or_build(kind, "k", _builder(calls))
    _damage(entry / MANIFEST, how)
    assert not cache.has(kind, "k")
    with caplog.at_level(logging.WARNING):
        again = cache.get_or_build(kind, "k", _builder(calls))
    assert len(calls) == 2 and _warned(caplog, entry)
    assert json.loads((again / MANIFEST).read_text())["meta"] == {"built": 2}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", DAMAGE)
def test_damaged_payload_is_named_and_rebuilt(tmp_path, caplog, kind, how):
    cache, calls = Cache(tmp_path), []
    entry = cache.get_or_build(kind, "k", _builder(calls))
    _damage(entry / "payload.bin", how)
    with caplog.at_level(logging.WARNING):
        cache.get_or_build(kind, "k", _builder(calls))
    assert len(calls) == 2 and _warned(caplog, entry / "payload.bin")
    assert (entry / "payload.bin").read_bytes() == b"payload " * 64


@pytest.mark.parametrize("part", ["world/world.json", MANIFEST])
@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_real_world_entry_heals(tmp_path, caplog, part, how):
    from mia_bench.plan import resolve

    provider = resolve("dataset", "pii-faces?n_identities=16&n_members=4&n_nonmembers=4&n_population=4"
                                  "&photos_per_identity=1&train_photos=1&evidence_photos=0&n_background=4")
    cache = Cache(tmp_path)
    world = provider.load_world(cache)
    (entry,) = (tmp_path / "worlds").iterdir()
    _damage(entry / part, how)
    with caplog.at_level(logging.WARNING):
        again = provider.load_world(cache)
    assert again.fingerprint() == world.fingerprint() and _warned(caplog, entry)


@pytest.mark.parametrize("how", [*DAMAGE, "valid zip, wrong arrays"])
def test_damaged_plain_cache_file_is_named_deleted_and_rebuilt(tmp_path, caplog, how):
    from mia_bench_umid.attack import _load_npz, _save_npz

    path = tmp_path / "umid-features" / "k" / "features.npz"
    _save_npz(path, {"S": np.ones(3)})
    if how == "valid zip, wrong arrays":
        _save_npz(path, {"other": np.ones(3)})
        def load(p):
            return _load_npz(p)["S"]
    else:
        _damage(path, how)
        load = _load_npz
    with caplog.at_level(logging.WARNING):
        assert load_cached_file(path, load) is None
    assert _warned(caplog, path) and not path.exists()


@pytest.fixture
def toy_run(tmp_path):
    from mia_bench import plugins as pl

    pl.load_plugins()
    keep = [(name, pl.load_plugins().get_plugin(name)) for name in ("baselines", "defaults", "umid")]
    with isolated_plugins(toy_plugin, *keep):
        plan = build_plan(["csa", "umid?k=2&steps=2&n_reference=10&chunk=64"], ["toy"], ["toy"], None, [0])
        cache = Cache(tmp_path / "cache")

        def run(rerun=False):
            return Runner(plan, RunConfig(tmp_path / "out", cache, n_boot=20, progress=False, rerun=rerun)).run()

        yield plan, cache, run


@pytest.mark.parametrize("how", DAMAGE)
def test_damaged_umid_feature_cache_in_a_run(toy_run, caplog, how):
    _, cache, run = toy_run
    first = run()
    assert not first.errors
    files = sorted((cache.root / "umid-features").rglob("features.npz"))
    assert files
    for f in files:
        _damage(f, how)
    with caplog.at_level(logging.WARNING):
        again = run(rerun=True)
    assert not again.errors and all(_warned(caplog, f) for f in files)
    assert all(f.exists() and load_cached_file(f, lambda p: np.load(p).files) for f in files)  # rewritten


@pytest.mark.parametrize("file, how", [("json", h) for h in [*DAMAGE, *JSON_SHAPES]] + [("npz", h) for h in DAMAGE])
def test_damaged_result_files_are_named_and_recomputed(toy_run, caplog, file, how):
    from mia_bench.leaderboard import write_leaderboard

    plan, cache, run = toy_run
    run()
    key = plan.cells[0].key
    json_path, npz_path = cell_paths(plan_out := cache.root.parent / "out", key)
    damaged = json_path if file == "json" else npz_path
    want = load_records(plan_out, keys=[key])[0].metrics.auc
    _damage(damaged, how)
    with caplog.at_level(logging.WARNING):
        assert finished_record(plan_out, key) is None
        assert _warned(caplog, damaged)
        caplog.clear()
        write_leaderboard(plan_out, load_records(plan_out), plots=True)  # never crashes on it
        if file == "npz":
            assert _warned(caplog, damaged)  # left out of the plots, by name
        again = run()
    assert key in again.finished and load_records(plan_out, keys=[key])[0].metrics.auc == want


@pytest.mark.parametrize("how", [*DAMAGE, *JSON_SHAPES])
def test_damaged_fingerprint_sidecar_is_rehashed(tmp_path, monkeypatch, how):
    monkeypatch.setenv("MIA_BENCH_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "model.pt"
    f.write_bytes(b"weights" * 100)
    want = path_fingerprint(f)
    (sidecar,) = (tmp_path / "cache" / "fingerprints").glob("*.json")
    _damage(sidecar, how)
    from mia_bench import cache as cache_module

    monkeypatch.setattr(cache_module, "_FINGERPRINTS", {})  # a new process: only the sidecar remembers
    assert path_fingerprint(f) == want
    assert json.loads(sidecar.read_text())["files"]  # rewritten whole
