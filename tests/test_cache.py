"""The content-addressed cache: atomic entries, corruption detected and rebuilt."""

from __future__ import annotations

import pytest

from mia_bench.cache import Cache, stable_hash, verify_manifest
from mia_bench.errors import CorruptCacheError


def _builder(calls):
    def build(work):
        calls.append(work)
        (work / "weights.bin").write_bytes(b"x" * 1000)
        return {"built": len(calls)}

    return build


def test_hit_builds_nothing(tmp_path):
    cache, calls = Cache(tmp_path), []
    first = cache.get_or_build("things", "k1", _builder(calls))
    second = cache.get_or_build("things", "k1", _builder(calls))
    assert first == second and len(calls) == 1


def test_truncated_file_is_detected_and_rebuilt(tmp_path, caplog):
    cache, calls = Cache(tmp_path), []
    path = cache.get_or_build("things", "k1", _builder(calls))
    (path / "weights.bin").write_bytes(b"x" * 10)  # truncated
    with pytest.raises(CorruptCacheError, match="has 10 bytes, expected 1000"):
        verify_manifest(path)
    path = cache.get_or_build("things", "k1", _builder(calls))
    assert len(calls) == 2 and (path / "weights.bin").stat().st_size == 1000
    assert "rebuilding" in caplog.text


def test_altered_file_fails_hash_check(tmp_path):
    cache, calls = Cache(tmp_path), []
    path = cache.get_or_build("things", "k1", _builder(calls))
    (path / "weights.bin").write_bytes(b"y" * 1000)
    with pytest.raises(CorruptCacheError, match="sha256"):
        verify_manifest(path)


def test_interrupted_build_leaves_no_entry_and_resumes_from_partial(tmp_path):
    cache = Cache(tmp_path)

    def crash(work):
        (work / "epoch_001.pt").write_bytes(b"1")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.get_or_build("things", "k", crash)
    assert not cache.has("things", "k")

    def resume(work):
        assert (work / "epoch_001.pt").exists()  # the earlier attempt's work is there to resume from
        (work / "epoch_002.pt").write_bytes(b"2")

    path = cache.get_or_build("things", "k", resume)
    assert sorted(p.name for p in path.iterdir()) == ["epoch_001.pt", "epoch_002.pt", "manifest.json"]


def test_stable_hash_is_order_independent():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})
