"""The typed result record: JSON round trip, validation on read, and the committed leaderboards load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mia_bench.records import CellRecord, RecordError, load_records, read_record

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = sorted((ROOT / "leaderboards").glob("*/cells/*.json"))


def _one_committed() -> dict:
    path = next(p for p in COMMITTED if json.loads(p.read_text())["status"] == "ok")
    return json.loads(path.read_text())


def test_committed_records_round_trip_exactly():
    assert len(COMMITTED) > 50
    for path in COMMITTED[::7]:
        raw = json.loads(path.read_text())
        rec = CellRecord.from_json(raw, str(path))
        assert rec.to_json() == raw, path  # the typed record owns the whole schema: nothing lost or added
        assert rec.key == path.stem


def test_typed_access():
    rec = CellRecord.from_json(_one_committed())
    assert rec.ok and rec.metrics is not None and 0.0 <= rec.metrics.auc <= 1.0
    assert rec.threat in ("text-only", "biometric", "model-free")
    assert rec.target_label.startswith(rec.cell.target)


@pytest.mark.parametrize("damage, message", [
    (lambda d: [], "a record is a JSON object, got list"),
    (lambda d: {}, "missing field 'status'"),
    (lambda d: {**d, "status": "done"}, "status 'done'; valid: 'ok', 'error'"),
    (lambda d: {**d, "schema": 7}, "result schema 7"),
    (lambda d: {k: v for k, v in d.items() if k != "metrics"}, "metrics: should be an object"),
    (lambda d: {**d, "cell": {**d["cell"], "seed": "0"}}, "field 'seed' should be"),
    (lambda d: {**d, "metrics": {**d["metrics"], "bogus": 1}}, "metrics:"),
    (lambda d: {**d, "split": {**d["split"], "n_members": None}}, "field 'n_members'"),
])
def test_wrong_shapes_are_named(tmp_path, damage, message):
    path = tmp_path / "cells" / "k.json"
    path.parent.mkdir()
    path.write_text(json.dumps(damage(_one_committed())))
    with pytest.raises(RecordError) as err:
        read_record(path)
    assert str(path) in str(err.value) and message in str(err.value)
    assert load_records(tmp_path) == []  # a damaged file is skipped, never half-used


@pytest.mark.parametrize("content", [b"", b"{\"status\": \"ok\", ", b"\x00\xff garbage"])
def test_truncated_or_garbage_files_are_named(tmp_path, content):
    path = tmp_path / "cells" / "k.json"
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(RecordError, match="unreadable result file"):
        read_record(path)


def test_load_records_filters_by_keys(tmp_path):
    raw = _one_committed()
    (tmp_path / "cells").mkdir()
    for key in ("a", "b"):
        (tmp_path / "cells" / f"{key}.json").write_text(json.dumps({**raw, "key": key}))
    assert [r.key for r in load_records(tmp_path)] == ["a", "b"]
    assert [r.key for r in load_records(tmp_path, keys=["b"])] == ["b"]


def test_a_cell_with_damaged_scores_is_not_resumed(tmp_path):
    import numpy as np

    from mia_bench.results import cell_paths, finished_record, write_cell

    rec = CellRecord.from_json(_one_committed())
    write_cell(tmp_path, rec, {"scores": np.arange(3.0), "labels": np.array([0, 1, 1])})
    assert finished_record(tmp_path, rec.key) == rec
    _, npz = cell_paths(tmp_path, rec.key)
    npz.write_bytes(npz.read_bytes()[:20])  # truncated: the JSON alone must not count as finished
    assert finished_record(tmp_path, rec.key) is None
