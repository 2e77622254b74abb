"""csa-aug's default is Ko et al.'s cosine drop under augmentation (the mean kept as an option);
IDIA's default prompts are disjoint from every caption template of the embedded worlds."""

from __future__ import annotations

import numpy as np
import pytest

from mia_bench.attack import AttackContext
from mia_bench.augment import IMAGE_OPS, make_views, row_seeds
from mia_bench.cache import Cache
from mia_bench.errors import InvalidOptionsError
from mia_bench.metrics import auc
from mia_bench.testing import ToyTarget, toy_split
from mia_bench_baselines.csa import CSAAug, CSAAugOptions
from mia_bench_umid.idia import AUDIO_PROMPTS, IDIA, IMAGE_PROMPTS, IDIAOptions, overlaps, prompt_templates


@pytest.fixture(scope="module")
def planted():
    split = toy_split(0, n=20, n_identities=80)
    challenge, labels = split.challenge("pair")
    return split, challenge, labels, ToyTarget(member_pairs=split.train, strength=1.0)


def _ctx(split):
    return AttackContext(split.auxiliary, np.random.default_rng(0), 0, Cache("/tmp/unused-qwsa"), "image")


def _cos_views(target, samples, n_views):
    views = make_views(samples.images, n_views, row_seeds(samples.ids, 0), IMAGE_OPS, "image")
    text = target.encode_text(list(samples.texts))
    orig = (target.encode_image(samples.images) * text).sum(1)
    aug = np.stack([(target.encode_image(views[:, j]) * text).sum(1) for j in range(n_views)], 1)
    return orig, aug


def test_csa_aug_defaults_to_the_cosine_drop(planted):
    split, challenge, labels, target = planted
    assert CSAAugOptions().aggregate == "drop"
    out = CSAAug(CSAAugOptions(n_views=4)).run(target, challenge, _ctx(split))
    orig, aug = _cos_views(target, challenge.samples, 4)  # each view encoded on its own here
    np.testing.assert_allclose(out.scores, orig - aug.mean(1), atol=1e-5)
    # the toy target memorised the exact training images: their cosine falls under augmentation
    assert auc(out.scores, labels) > 0.9


def test_csa_aug_mean_is_kept_as_an_option(planted):
    split, challenge, _, target = planted
    out = CSAAug(CSAAugOptions(n_views=4, aggregate="mean")).run(target, challenge, _ctx(split))
    orig, aug = _cos_views(target, challenge.samples, 4)
    np.testing.assert_allclose(out.scores, np.c_[orig, aug].mean(1), atol=1e-5)
    with pytest.raises(InvalidOptionsError, match=r"aggregate='max' is not valid; valid: drop, mean"):
        CSAAug(CSAAugOptions(aggregate="max")).check()


def _all_world_templates():
    from mia_bench_pii import avatars, voices, world

    return {"pii-faces": world.TEMPLATES, "pii-voices": voices.TEMPLATES, "pii-avatars": avatars.TEMPLATES}


@pytest.mark.parametrize("prompts", [IMAGE_PROMPTS, AUDIO_PROMPTS])
def test_idia_paper_style_prompts_are_21_and_disjoint_from_every_training_template(prompts):
    assert len(prompts) == len(set(prompts)) == 21
    assert all("{name}" in p for p in prompts)
    for world, templates in _all_world_templates().items():
        clashes = [(p, t) for p in prompts for t in templates if overlaps(p, t)]
        assert clashes == [], f"prompts coincide with {world}'s caption templates: {clashes}"


def test_overlap_ignores_case_and_punctuation_and_catches_containment():
    assert overlaps("A photo of {name}", "a photo of {name}.")
    assert overlaps("a photo of {name} at night", "a photo of {name}.")  # contains a training template
    assert overlaps("a picture of {name}", "a picture of {name}, smiling.")  # contained in one
    assert not overlaps("{name}", "a photo of {name}.")  # the bare name is no template
    assert not overlaps("a snapshot of {name}", "a photo of {name}.")


def test_idia_prompt_sets():
    faces = _all_world_templates()["pii-faces"]
    assert prompt_templates("paper-style", "image", faces) == (list(IMAGE_PROMPTS), 0)
    assert prompt_templates("paper-style", "audio", _all_world_templates()["pii-voices"]) == (list(AUDIO_PROMPTS), 0)
    assert prompt_templates("training", "image", faces) == (list(faces), 0)
    kept, dropped = prompt_templates("paper-style", "image", ("{name} at work.", "this is {name}."))
    assert dropped == 1 and "{name} at work" not in kept  # a dataset whose own template is one of ours
    with pytest.raises(InvalidOptionsError, match=r"prompts='paper' is not valid; valid: paper-style, training"):
        IDIA(IDIAOptions(prompts="paper")).check()


@pytest.mark.parametrize("prompts,expected", [("paper-style", 21), ("training", 1)])
def test_idia_queries_with_the_chosen_prompts(planted, prompts, expected):
    split, _, _, target = planted
    challenge, labels = split.challenge("identity")
    out = IDIA(IDIAOptions(prompts=prompts)).run(target, challenge, _ctx(split))
    assert out.info["prompts"] == expected and out.info["prompt_set"] == prompts  # the toy world has 1 template
    assert out.scores.shape == (len(challenge),)
