"""Cell keys carry a content fingerprint of the local files a spec names (issue 18, item 1).

A checkpoint replaced in place, or a dataset folder edited, must be recomputed, never
resumed with the old model's numbers; specs that name no local file keep the spec-only
key every committed result was written under.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mia_bench.cache import Cache, path_fingerprint
from mia_bench.plan import build_plan
from mia_bench.records import read_record
from mia_bench.results import load_records
from mia_bench.runner import RunConfig, Runner
from mia_bench.suites import load_suite, plan_suite

REPO = Path(__file__).resolve().parent.parent
DATASET = ("pii-faces?n_identities=24&n_members=6&n_nonmembers=6&n_population=6&photos_per_identity=2"
           "&train_photos=1&evidence_photos=1&n_background=20")


def test_committed_quick_keys_are_unchanged():
    """Built-in components name no local file: the quick leaderboard's cells still resume."""
    plan = plan_suite(load_suite("quick"))
    planned = {tuple(sorted(c.spec().to_json().items())): c for c in plan.cells}
    committed = {}
    for path in (REPO / "leaderboards" / "quick" / "cells").glob("*.json"):
        rec = read_record(path)
        cell = planned.get(tuple(sorted(rec.cell.to_json().items())))
        if cell is not None and plan.attack(cell).version == rec.attack.version:  # a bumped version is a new key
            committed[cell.key] = rec.key
    assert len(committed) >= 6, "too few committed quick cells with today's attack versions to compare"
    assert all(new == old for new, old in committed.items())


def test_path_fingerprint_follows_content_not_name(tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_BENCH_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "model.pt"
    f.write_bytes(b"one")
    first = path_fingerprint(f)
    assert path_fingerprint(f) == first  # memoised, same answer
    f.write_bytes(b"two")
    os.utime(f, ns=(1, 1))  # even a replacement that restores an old mtime differs in size or content
    assert path_fingerprint(f) != first
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("a")
    before = path_fingerprint(folder)
    (folder / "sub" / "a.txt").write_text("b")
    assert path_fingerprint(folder) != before
    sidecars = list((tmp_path / "cache" / "fingerprints").glob("*.json"))
    assert sidecars and all(json.loads(p.read_text())["files"] for p in sidecars)


def _save_random_clip(path: Path, seed: int) -> None:
    import torch
    from mia_bench_openclip.builders import create_random_model, model_config

    model, _ = create_random_model("mia-micro-vit", seed)
    torch.save({"state_dict": model.state_dict(), "arch": "mia-micro-vit",
                "model_cfg": json.dumps(model_config("mia-micro-vit"))}, path)


def _run(out: Path, cache: Cache, target: str):
    plan = build_plan(["csa"], [target], [DATASET], None, [0])
    summary = Runner(plan, RunConfig(out, cache, n_boot=50, progress=False)).run()
    (rec,) = [r for r in load_records(out, plan=plan) if r.cell.unit == "pair"]
    return summary, rec


@pytest.mark.slow
def test_replaced_checkpoint_is_recomputed(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("MIA_BENCH_CACHE", str(cache.root))
    ckpt = tmp_path / "model.pt"
    _save_random_clip(ckpt, seed=1)
    first, rec1 = _run(tmp_path / "D", cache, f"open_clip:{ckpt}")
    assert first.finished and not first.errors
    _save_random_clip(ckpt, seed=2)  # same path, other weights
    second, rec2 = _run(tmp_path / "D", cache, f"open_clip:{ckpt}")
    assert second.finished and not second.resumed, "the replaced checkpoint's cell was resumed"
    _, fresh = _run(tmp_path / "fresh", cache, f"open_clip:{ckpt}")
    assert rec2.metrics.auc == fresh.metrics.auc  # the new model's AUC, as a fresh folder reports it
    assert rec2.metrics.auc != rec1.metrics.auc
    third, _ = _run(tmp_path / "D", cache, f"open_clip:{ckpt}")
    assert third.resumed and not third.finished  # unchanged file: resumed


def test_edited_hf_folder_changes_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_BENCH_CACHE", str(tmp_path / "cache"))
    from mia_bench.hfdata import save_world
    from mia_bench.testing import toy_world

    save_world(toy_world(n_identities=12, photos=2), tmp_path / "w")
    folder = tmp_path / "w" / "pii"
    spec = f"hf:{folder}?identity_column=identity&n_members=3&n_nonmembers=3&n_population=2"
    key = build_plan(["blind"], ["clip-micro-vit"], [spec]).cells[0].key
    assert build_plan(["blind"], ["clip-micro-vit"], [spec]).cells[0].key == key
    (folder / "extra.txt").write_text("an edit")  # any content change
    assert build_plan(["blind"], ["clip-micro-vit"], [spec]).cells[0].key != key
