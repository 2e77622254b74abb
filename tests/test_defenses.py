"""Defenses: early stopping releases earlier checkpoints of the same run; utility is recorded."""

from __future__ import annotations

import numpy as np
import pytest

from mia_bench.errors import InvalidOptionsError
from mia_bench.plan import build_plan
from mia_bench.results import load_records
from mia_bench.runner import RunConfig, Runner
from mia_bench.utility import utility_metrics

DATASET = ("pii-faces?n_identities=40&n_members=10&n_nonmembers=10&n_population=10&photos_per_identity=4"
           "&train_photos=2&evidence_photos=2&n_background=40")


def test_early_stopping_releases_earlier_epochs_without_retraining(tmp_path, cache, monkeypatch):
    plan = build_plan(["csa"], ["clip-micro-rn?epochs=3&batch_size=16"], [DATASET],
                      ["none", "early-stopping?epoch=1"], [0])
    runner = Runner(plan, RunConfig(tmp_path / "out", cache, n_boot=100, progress=False))
    assert not runner.run().errors
    recs = {r.cell.defense: r for r in load_records(tmp_path / "out") if r.cell.unit == "pair"}
    assert recs["none"].target.info["epoch"] == 3
    assert recs["early-stopping?epoch=1"].target.info["epoch"] == 1
    assert recs["none"].target.info["cache_key"] == recs["early-stopping?epoch=1"].target.info["cache_key"]
    assert len(list((cache.root / "targets").iterdir())) == 1  # one training run serves both
    for rec in recs.values():
        u = rec.target.utility
        assert 0 <= u["zero_shot_identification"] <= 1 and 0 <= u["retrieval_recall_at_1"] <= 1


def test_early_stopping_past_the_last_epoch_is_a_clear_error(tmp_path, cache):
    plan = build_plan(["csa"], ["clip-micro-rn?epochs=2&batch_size=16"], [DATASET], ["early-stopping?epoch=9"], [0])
    summary = Runner(plan, RunConfig(tmp_path / "out", cache, n_boot=100, progress=False)).run()
    assert all("epoch=9 is past the target's 2 training epochs" in e for e in summary.errors.values())


def test_utility_of_an_ignorant_target_is_near_chance():
    """A target that memorised nobody identifies held-out photos at about chance (1/10)."""
    from mia_bench.testing import ToyTarget, toy_split

    split = toy_split(n=10)
    target = ToyTarget(member_pairs=split.utility_pii.subset([]))
    u = utility_metrics(target, split)
    assert set(u) >= {"zero_shot_identification", "retrieval_recall_at_1"}
    chance = 1 / u["identification_candidates"]
    assert u["zero_shot_identification"] < 0.5 + chance  # the toy target knows nobody: near chance


def test_training_time_defenses_change_the_recipe_and_the_cache_key(tmp_path, cache):
    plan = build_plan(["csa"], ["clip-micro-rn?epochs=1&batch_size=16"], [DATASET],
                      ["none", "augmentation?strength=strong", "weight-decay?value=0.5"], [0])
    assert not Runner(plan, RunConfig(tmp_path / "out", cache, n_boot=100, progress=False)).run().errors
    recs = {r.cell.defense: r for r in load_records(tmp_path / "out") if r.cell.unit == "pair"}
    keys = {d: r.target.info["cache_key"] for d, r in recs.items()}
    assert len(set(keys.values())) == 3  # each defended recipe is its own cached target
    manifest = (cache.root / "targets" / keys["weight-decay?value=0.5"] / "manifest.json").read_text()
    assert '"weight_decay": 0.5' in manifest


def test_bad_defense_option_is_caught_before_anything_trains():
    with pytest.raises(InvalidOptionsError, match="strength='mild': Input should be 'crop_flip' or 'strong'"):
        build_plan(["csa"], ["clip-micro-rn"], [DATASET], ["augmentation?strength=mild"], [0])


def test_knn_identification_needs_no_text_encoder_and_sees_identity():
    """kNN identification names a held-out photo by its nearest trained photo: an encoder that
    maps a person's photos together scores 1, one that ignores identity about chance."""
    from mia_bench.testing import ToyTarget, toy_split

    split = toy_split(n=10)

    class ByIdentity(ToyTarget):
        capabilities = frozenset({"image"})  # image-only: no zero-shot metrics

        def encode_image(self, images):
            owner = {img.tobytes(): ident for s in (split.train, split.utility_pii)
                     for img, ident in zip(s.images, s.identities)}
            return self._unit_rows([self._text_vec(owner[img.tobytes()] or "bg") for img in images])

        @staticmethod
        def _unit_rows(rows):
            x = np.stack(rows)
            return x / np.linalg.norm(x, axis=1, keepdims=True)

    u = utility_metrics(ByIdentity(), split)
    assert u == {"knn_identification": 1.0}
    ignorant = utility_metrics(ToyTarget(), split)["knn_identification"]
    assert ignorant < 0.5  # 10 member identities: chance is 0.1
