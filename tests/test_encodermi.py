"""EncoderMI: features, classifiers, shadow settings, and a planted-signal end-to-end check."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from mia_bench.attack import AttackContext
from mia_bench.cache import Cache
from mia_bench.errors import IncompatibleError, InvalidOptionsError
from mia_bench.metrics import auc
from mia_bench.testing import ToyTarget, toy_split
from mia_bench_encodermi.attack import EncoderMIOptions, EncoderMISetOptions, EncoderMIS, EncoderMIT, EncoderMIV
from mia_bench_encodermi.classifiers import SetClassifier, ThresholdClassifier, VectorClassifier
from mia_bench_encodermi.features import pairwise_similarities, view_embeddings
from mia_bench_encodermi.shadow import SETTINGS, pick_arch, setting_label, shadow_set


def test_pairwise_similarities_are_the_upper_triangle():
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((3, 5, 4))
    sims = pairwise_similarities(emb)
    assert sims.shape == (3, 10)
    u = emb / np.linalg.norm(emb, axis=2, keepdims=True)
    assert sims[1, 0] == pytest.approx(u[1, 0] @ u[1, 1])  # pair (0, 1)
    assert sims[2, -1] == pytest.approx(u[2, 3] @ u[2, 4])  # pair (3, 4)
    pearson = pairwise_similarities(emb, "pearson")
    assert pearson[0, 0] == pytest.approx(np.corrcoef(emb[0, 0], emb[0, 1])[0, 1])
    with pytest.raises(ValueError, match="valid: cosine, pearson"):
        pairwise_similarities(emb, "euclid")


def test_view_embeddings_do_not_depend_on_batch_composition():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (7, 8, 8, 3), dtype=np.uint8)
    target = ToyTarget()
    seeds = list(range(100, 107))
    full = view_embeddings(target.encode_media, images, 4, seeds, ("crop", "flip"), "image")
    part = view_embeddings(target.encode_media, images[3:], 4, seeds[3:], ("crop", "flip"), "image")
    assert full.shape == (7, 4, 16)
    np.testing.assert_allclose(full[3:], part, atol=1e-6)


def test_classifiers_learn_a_separable_direction_and_sets_are_permutation_invariant():
    rng = np.random.default_rng(2)
    y = np.repeat([True, False], 100)
    sims = rng.normal(0.5, 0.1, (200, 15)) + np.where(y, 0.2, 0.0)[:, None]
    t = ThresholdClassifier().fit(sims, y)
    assert 0.55 < t.threshold < 0.75 and (t.decide(sims) == y).mean() > 0.9
    for clf in (VectorClassifier(seed=0), SetClassifier(seed=0, epochs=200)):
        clf.fit(sims, y)
        assert auc(clf.score(sims), y) > 0.95
        shuffled = sims[:, rng.permutation(15)]
        np.testing.assert_allclose(clf.score(shuffled), clf.score(sims), rtol=1e-4, atol=1e-5)


# --- a target with a planted EncoderMI signal ----------------------------------------
def _signature(img: np.ndarray) -> str:
    """Flip-invariant fingerprint (the multiset of pixel rows' sums is unchanged by a horizontal flip)."""
    return hashlib.sha1(np.sort(img.reshape(-1, 3).sum(1)).tobytes()).hexdigest()


class Memoriser(ToyTarget):
    """Maps every flip of a memorised image to (almost) one point: augmentation-invariant on
    members, as EncoderMI assumes a pre-trained encoder is; non-members get the noisy projection."""

    def __init__(self, members, seed=0):
        super().__init__(seed=seed)
        rng = np.random.default_rng(seed + 99)
        self.anchors = {_signature(img): rng.standard_normal(self.dim) for img in members.images}

    def encode_image(self, images):
        base = super().encode_image(images)
        out = base.copy()
        for i, img in enumerate(images):
            anchor = self.anchors.get(_signature(img))
            if anchor is not None:
                out[i] = anchor / np.linalg.norm(anchor) * 3 + base[i]
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _context(split, seed=0, calls=None):
    def build_shadow(samples, seed, cache, *, arch=None, algorithm="clip", progress=False):
        if calls is not None:
            calls.append((arch, algorithm, len(samples)))
        t = Memoriser(samples.subset([i for i, x in enumerate(samples.identities) if x is not None]), seed=seed % 1000)
        t.fingerprint = f"memo-{samples.fingerprint()}-{arch}-{algorithm}"
        t.info = {"trained_now": True}
        return t

    return AttackContext(split.auxiliary, np.random.default_rng(seed), seed, Cache(_context.tmp), "image",
                         target_recipe={"arch": "toy-a", "algorithm": "clip-contrastive"}, build_shadow=build_shadow,
                         progress=False)


@pytest.mark.parametrize("cls,opts", [(EncoderMIV, EncoderMIOptions), (EncoderMIS, EncoderMISetOptions),
                                      (EncoderMIT, EncoderMIOptions)])
def test_planted_signal_is_found_and_the_null_target_is_at_chance(tmp_path, cls, opts):
    _context.tmp = tmp_path
    split = toy_split(0, n=30, n_identities=120)
    challenge, labels = split.challenge("pair")
    attack = cls(opts(n_views=6, ops=["flip"], shadow_train_photos=2))
    attack.check()
    real = attack.run(Memoriser(split.train), challenge, _context(split)).validated(len(challenge), attack.name)
    null = attack.run(Memoriser(split.null_train), challenge, _context(split)).validated(len(challenge), attack.name)
    # 60 members vs 60 non-members: the AUC's standard error under the null is about 0.053.
    assert auc(real.scores, labels) > 0.9
    assert abs(auc(null.scores, labels) - 0.5) < 4 * 0.053
    assert real.decisions is not None and (real.decisions == labels).mean() > 0.8
    assert real.info["setting"] == "data+arch+algorithm" and real.info["shadow_train_accuracy"] > 0.8


def test_a_target_and_its_null_share_one_shadow_classifier_fit(tmp_path, monkeypatch):
    """The classifier is trained on the shadow encoder only: the null control's cell (same
    features, same stream) reuses the target cell's fit; other options fit their own."""
    import mia_bench_encodermi.attack as attack_mod

    _context.tmp = tmp_path
    monkeypatch.setattr(attack_mod, "_FITTED", type(attack_mod._FITTED)())
    split = toy_split(0, n=30, n_identities=120)
    challenge, labels = split.challenge("pair")
    fits = []
    real_fit = attack_mod.ThresholdClassifier.fit
    monkeypatch.setattr(attack_mod.ThresholdClassifier, "fit", lambda self, *a: fits.append(1) or real_fit(self, *a))
    attack = EncoderMIT(EncoderMIOptions(n_views=6, ops=["flip"], shadow_train_photos=2))
    real = attack.run(Memoriser(split.train), challenge, _context(split))
    n_fits = len(fits)  # the classifier and its 5 cross-validation folds
    null = attack.run(Memoriser(split.null_train), challenge, _context(split))
    assert len(fits) == n_fits == 6
    assert null.info["shadow_cv_accuracy"] == real.info["shadow_cv_accuracy"]
    assert auc(real.scores, labels) > 0.9  # the shared classifier still scores each target's own features
    EncoderMIT(EncoderMIOptions(n_views=5, ops=["flip"], shadow_train_photos=2)).run(
        Memoriser(split.train), challenge, _context(split))
    assert len(fits) == 2 * n_fits


def test_knowledge_settings_pick_the_substitutes(tmp_path):
    _context.tmp = tmp_path
    split = toy_split(0, n=10)
    calls: list = []
    ctx = _context(split, calls=calls)
    challenge, _ = split.challenge("pair")
    EncoderMIT(EncoderMIOptions(n_views=3, ops=["flip"], know_arch=False, alt_arch="toy-b", know_algorithm=False,
                                shadow_train_photos=2)).run(ToyTarget(), challenge, ctx)
    assert calls == [("toy-b", "simclr", calls[0][2])]
    assert pick_arch(ctx, True, None, ctx.build_shadow) == "toy-a"
    with pytest.raises(InvalidOptionsError, match="set alt_arch"):
        pick_arch(ctx, False, None, ctx.build_shadow)  # the toy builder offers no other architecture
    unknown = AttackContext(split.auxiliary, np.random.default_rng(0), 0, Cache(tmp_path), "image")
    with pytest.raises(IncompatibleError, match="cannot build shadow models"):
        EncoderMIT(EncoderMIOptions()).run(ToyTarget(), challenge, unknown)
    assert len(SETTINGS) == 8 and setting_label(False, False, False) == "none"


def test_shadow_set_mirrors_the_target_protocol():
    split = toy_split(0, n=10)
    aux = split.auxiliary
    s = shadow_set(aux.population, aux.population_background, 2, seed=0, source="target distribution")
    assert s.labels.sum() == (~s.labels).sum() == 5 * 2  # 10 identities: 5 shadow members x 2 photos each
    member_ids = {x for x, y in zip(s.rows.identities, s.labels) if y}
    trained = {x for x in s.train.identities if x is not None}
    assert trained == member_ids
    assert not ({x for x, y in zip(s.rows.identities, s.labels) if not y} & trained)


def test_bad_options_fail_before_any_training():
    with pytest.raises(InvalidOptionsError, match="similarity='dot'"):
        EncoderMIV(EncoderMIOptions(similarity="dot")).check()
    with pytest.raises(InvalidOptionsError, match="unknown augmentations"):
        EncoderMIT(EncoderMIOptions(ops=["rotate"])).check()


def test_shadow_encoders_and_their_features_are_cached(tmp_path, monkeypatch):
    """A real micro CLIP shadow (1 epoch): the second run trains nothing and recomputes no feature."""
    from mia_bench.plan import resolve

    import mia_bench_encodermi.attack as attack_mod

    builder = resolve("target", "clip-micro-vit?epochs=1&batch_size=32")
    split = toy_split(0, n=10)
    challenge, _ = split.challenge("pair")
    attack = EncoderMIT(EncoderMIOptions(n_views=3, shadow_train_photos=2))

    def ctx():
        return AttackContext(split.auxiliary, np.random.default_rng(0), 0, Cache(tmp_path), "image",
                             target_recipe=builder.recipe(), build_shadow=builder.build_shadow, progress=False)

    target = ToyTarget()
    first = attack.run(target, challenge, ctx())
    assert first.info["shadow_models_trained"] == 1
    calls = []
    real = attack_mod.view_embeddings
    monkeypatch.setattr(attack_mod, "view_embeddings", lambda *a, **k: calls.append(1) or real(*a, **k))
    second = attack.run(target, challenge, ctx())
    assert second.info["shadow_models_trained"] == 0
    assert len(calls) == 1  # only the target's views are encoded; shadow features come from the cache
    np.testing.assert_allclose(first.scores, second.scores)


def test_simclr_target_is_image_only_and_text_attacks_are_refused_before_training():
    from mia_bench.plan import build_plan, resolve

    builder = resolve("target", "clip-micro-vit?algorithm=simclr")
    assert "text" not in builder.capabilities("image") and builder.recipe()["algorithm"] == "simclr"
    build_plan(["encodermi-t"], ["clip-micro-vit?algorithm=simclr"], ["pii-faces-small"])  # fine: media only
    with pytest.raises(IncompatibleError, match="needs \\['text'\\]"):
        build_plan(["csa"], ["clip-micro-vit?algorithm=simclr"], ["pii-faces-small"])
    with pytest.raises(InvalidOptionsError, match="algorithm='byol'"):
        resolve("target", "clip-micro-vit?algorithm=byol")


def test_audio_views_are_seeded_per_clip_and_do_what_they_say():
    from mia_bench.augment import augment_audio

    rng = np.random.default_rng(3)
    clips = (rng.standard_normal((4, 800)) * 0.1).astype(np.float32)
    seeds = [11, 12, 13, 14]
    views = augment_audio(clips, 3, seeds)
    assert views.shape == (4, 3, 800) and views.dtype == np.float32
    np.testing.assert_array_equal(augment_audio(clips[2:], 3, seeds[2:]), views[2:])  # batch-independent
    gain = augment_audio(clips, 2, seeds, ops=("gain",))
    ratio = gain[0, 0] / clips[0]
    assert np.allclose(ratio, ratio[0], rtol=1e-4) and 0.5 <= ratio[0] <= 2.0  # +-6 dB
    shift = augment_audio(clips, 2, seeds, ops=("shift",))
    assert any(np.array_equal(shift[1, 0], np.roll(clips[1], k)) for k in range(-80, 81))  # up to 10%
    with pytest.raises(ValueError, match="unknown audio augmentation"):
        augment_audio(clips, 2, seeds, ops=("flip",))


def test_features_work_on_an_audio_encoder():
    """EncoderMI on a CLAP-like audio tower: views are audio augmentations, features the same."""
    rng = np.random.default_rng(4)
    proj = rng.standard_normal((800, 8)).astype(np.float32)
    clips = (rng.standard_normal((5, 800)) * 0.1).astype(np.float32)
    emb = view_embeddings(lambda a: a @ proj, clips, 4, list(range(5)), ("gain", "noise"), "audio")
    sims = pairwise_similarities(emb)
    assert sims.shape == (5, 6) and np.all(sims > 0.9)  # gain and mild noise barely move a linear embedding


# --- where the views come from (views=training | fixed) ------------------------------
def test_views_default_to_training_and_ops_select_the_fixed_list():
    assert EncoderMIOptions().views == "training"
    assert EncoderMIOptions(ops=["crop"]).views == "fixed"
    assert EncoderMIOptions(views="fixed").ops is None
    with pytest.raises(InvalidOptionsError, match="views=training"):
        EncoderMIV(EncoderMIOptions(views="training", ops=["crop"])).check()
    with pytest.raises(InvalidOptionsError, match="views='shadow'.*training, fixed"):
        EncoderMIV(EncoderMIOptions(views="shadow")).check()


class _Builder:
    """Stands in for a target builder: shadows train with ``options.augment``."""

    def __init__(self, augment):
        self.options = type("O", (), {"augment": augment})()

    def build_shadow(self, *a, **k):
        raise AssertionError("not called")


def test_training_views_follow_the_shadows_algorithm_and_recipe():
    from mia_bench_encodermi.views import resolve_views

    build = _Builder("crop_flip").build_shadow
    assert resolve_views("training", None, "image", build, {}, "clip").label == "training:crop_flip"
    assert resolve_views("training", None, "image", build, {}, "simclr").label == "training:strong"
    assert resolve_views("training", None, "audio", _Builder("shift").build_shadow, {}, "clip").label == "training:shift"
    assert resolve_views("training", None, "audio", build, {}, "simclr").label == "training:shift_gain"
    recipe_only = resolve_views("training", None, "image", lambda *a: None, {"recipe": {"augment": "crop"}}, "clip")
    assert recipe_only.label == "training:crop"  # no builder options: the target recipe says
    assert resolve_views("fixed", None, "image", build, {}, "clip").label == "fixed:crop+flip+color+grayscale"
    with pytest.raises(InvalidOptionsError, match="augment=none"):
        resolve_views("training", None, "image", _Builder("none").build_shadow, {}, "clip")
    with pytest.raises(IncompatibleError, match="set views=fixed"):
        resolve_views("training", None, "image", lambda *a: None, {}, "clip")


def slope(views: np.ndarray) -> np.ndarray:
    """Sign of the left-to-right brightness trend of each view (..., H, W, 3)."""
    cols = views[..., 0].astype(float).mean(axis=-2)  # (..., W)
    return np.sign((cols - cols.mean(-1, keepdims=True)) @ (np.arange(cols.shape[-1]) - (cols.shape[-1] - 1) / 2))


def test_clip_training_views_are_the_training_augmentation_in_media_space():
    """Views are CLIP's own augment_batch; its crops commute with the normalisation, so the
    same generator on unnormalised images gives the same views (up to 8-bit rounding); crop
    never flips, crop_flip does; a row's views ignore the batch."""
    import torch
    from mia_bench_encodermi.views import ViewSpec, _generator
    from mia_bench_openclip.training import augment_batch

    ramp = np.broadcast_to(np.linspace(0, 255, 16)[None, :, None], (16, 16, 3))
    images = np.stack([ramp, ramp[:, ::-1]]).round().astype(np.uint8)  # left-to-right, right-to-left
    crop = ViewSpec("training", ("crop",), "image").make(images, 6, [5, 6])
    assert crop.shape == (2, 6, 16, 16, 3) and crop.dtype == np.uint8
    unit = torch.from_numpy(images[1:]).permute(0, 3, 1, 2).float().div(255).repeat(6, 1, 1, 1)
    direct = augment_batch(unit, "crop", _generator(6)).permute(0, 2, 3, 1).numpy() * 255
    assert np.abs(direct - crop[1]).max() <= 1.0
    assert np.all(slope(crop[0]) > 0) and np.all(slope(crop[1]) < 0)  # orientation kept
    flipped = ViewSpec("training", ("crop_flip",), "image").make(images, 16, [5, 6])
    assert np.any(slope(flipped[0]) < 0) and np.any(slope(flipped[0]) > 0)
    np.testing.assert_array_equal(ViewSpec("training", ("crop",), "image").make(images[1:], 6, [6]), crop[1:])


def test_clap_training_views_are_circular_shifts_within_ten_percent():
    from mia_bench_encodermi.views import ViewSpec

    clips = (np.random.default_rng(5).standard_normal((3, 500)) * 0.1).astype(np.float32)
    views = ViewSpec("training", ("shift",), "audio").make(clips, 4, [1, 2, 3])
    assert views.shape == (3, 4, 500) and views.dtype == np.float32
    for i in range(3):
        for v in views[i]:
            assert any(np.array_equal(v, np.roll(clips[i], k)) for k in range(-50, 51))  # shift only, no gain
    np.testing.assert_array_equal(ViewSpec("training", ("shift",), "audio").make(clips[1:], 4, [2, 3]), views[1:])


def test_views_change_the_feature_cache_key_but_fixed_views_keep_theirs(tmp_path):
    """Shadow features of views=fixed are cached under the key they had before views existed,
    training views under another one: the two never read each other's features."""
    _context.tmp = tmp_path
    split = toy_split(0, n=10)
    challenge, _ = split.challenge("pair")
    ctx = lambda: AttackContext(split.auxiliary, np.random.default_rng(0), 0, Cache(tmp_path), "image",  # noqa: E731
                                target_recipe={"arch": "toy-a", "algorithm": "clip-contrastive",
                                               "recipe": {"augment": "crop"}},
                                build_shadow=_context(split).build_shadow, progress=False)
    fixed = EncoderMIT(EncoderMIOptions(n_views=3, ops=["flip"], shadow_train_photos=2)).run(ToyTarget(), challenge, ctx())
    train = EncoderMIT(EncoderMIOptions(n_views=3, shadow_train_photos=2)).run(ToyTarget(), challenge, ctx())
    assert fixed.info["views"] == "fixed:flip" and train.info["views"] == "training:crop"
    assert len(list((tmp_path / "encodermi-features").iterdir())) == 2
