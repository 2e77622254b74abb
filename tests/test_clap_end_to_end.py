"""The CLAP track end to end: a micro CLAP trained here on a small voices world, every attack
that applies to audio, the null-target control, and a warm re-run that trains nothing.

Pairs of one speaker are correlated (a voice that happens to sit near its name's
embedding does so for all its clips), and the pair-level bootstrap resamples pairs, not
speakers: the runner's CIs resample speakers (a cluster bootstrap), and they are wide with
few speakers. So the world has 50 member and 50 non-member speakers with 2 training clips
each (100 vs 100 pairs; a 95% CI about +-0.09 wide): an effect of AUC >= 0.7 clears 0.5.
The null control is held to the margin a control needs (within 4 standard errors of 0.5,
SE from the CI), not to CI containment: on this one fixed split the speaker effects are
the same in every run, and its null CSA sits near 0.42, at the edge of its 95% CI.
"""

from __future__ import annotations

import pytest

pytest.importorskip("laion_clap", reason="CLAP targets need the clap extra")

from mia_bench.plan import build_plan  # noqa: E402
from mia_bench.results import load_records  # noqa: E402
from mia_bench.runner import RunConfig, Runner  # noqa: E402

pytestmark = pytest.mark.slow

DATASET = ("pii-voices?n_identities=200&n_members=50&n_nonmembers=50&n_population=50&clips_per_identity=3"
           "&train_photos=2&evidence_photos=1&n_background=140")
TARGET = "clap-micro?epochs=60&batch_size=16&checkpoint_every=60"  # small batches: memorises 170 pairs in ~30 s
ATTACKS = ["csa", "csa-aug?n_views=2", "blind", "umid?k=2&steps=5&n_reference=20", "text-knn", "idia",
           "encodermi-v?n_views=4", "encodermi-t?n_views=4", "lira-online?n_shadows=2", "lira-offline?n_shadows=2",
           "global-threshold"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from mia_bench.cache import Cache

    root = tmp_path_factory.mktemp("clap-e2e")
    plan = build_plan(ATTACKS, [TARGET, TARGET + "&control=null"], [DATASET], None, [0])
    cache = Cache(root / "cache")
    summary = Runner(plan, RunConfig(root / "out", cache, n_boot=1000, progress=False)).run()
    return root, plan, cache, summary


def _rec(root, attack, unit, control="none", out="out"):
    (rec,) = [r for r in load_records(root / out) if r.cell.attack == attack
              and r.cell.unit == unit and r.cell.control == control]
    return rec


def test_every_audio_attack_runs_on_clap(run):
    assert not run[3].errors, run[3].errors
    ran = {(r.cell.attack.split("?")[0], r.cell.control) for r in load_records(run[0] / "out")}
    model_free = {"blind"}  # runs once: it never queries a model
    assert ran == {(a.split("?")[0], c) for a in ATTACKS for c in ("none", "null") if a not in model_free or c == "none"}


def test_csa_detects_members_and_null_target_is_at_chance(run):
    lo, hi = _rec(run[0], "csa", "pair").metrics.auc_ci
    assert lo > 0.5, (lo, hi)
    null = _rec(run[0], "csa", "pair", "null").metrics.to_dict()
    lo, hi = null["auc_ci"]
    se = (hi - lo) / 3.92
    assert abs(null["auc"] - 0.5) < 4 * se, (null["auc"], lo, hi)


def test_warm_rerun_trains_nothing(run):
    root, plan, cache, _ = run
    entries = {kind: sorted(p.name for p in (cache.root / kind).iterdir()) for kind in ("targets", "shadows")}
    summary = Runner(plan, RunConfig(root / "out2", cache, n_boot=200, progress=False)).run()
    assert not summary.errors
    assert {kind: sorted(p.name for p in (cache.root / kind).iterdir()) for kind in entries} == entries
    assert all(r.cost.shadow_models_trained == 0 for r in load_records(root / "out2"))
    a, b = _rec(root, "lira-online?n_shadows=2", "pair"), _rec(root, "lira-online?n_shadows=2", "pair", out="out2")
    assert a.metrics.auc == b.metrics.auc
