"""pytest fixtures for plugin authors: ``pytest_plugins = ["mia_bench.testing.fixtures"]``.

- ``mia_plugins``: a :class:`~mia_bench.plugins.Plugins` with the toy dataset and target
  (and nothing installed), the default inside the test; register yours on it.
- ``toy_target``: a :class:`~mia_bench.testing.ToyTarget` with a planted signal on
  ``toy_split_fixture``'s members.
- ``toy_split_fixture``: a small identity split (20 members / 20 non-members).
- ``attack_context``: an :class:`~mia_bench.attack.AttackContext` on that split.
"""

from __future__ import annotations

import numpy as np
import pytest

from . import isolated_plugins
from .toy import TOY_RECIPE, ToyTarget, toy_plugin, toy_shadow, toy_split


@pytest.fixture
def mia_plugins():
    with isolated_plugins(toy_plugin) as plugins:
        yield plugins


@pytest.fixture
def toy_split_fixture():
    return toy_split(0, n=20, n_identities=80)


@pytest.fixture
def toy_target(toy_split_fixture):
    return ToyTarget(member_pairs=toy_split_fixture.train, seed=0)


@pytest.fixture
def attack_context(toy_split_fixture, tmp_path):
    from ..attack import AttackContext
    from ..cache import Cache

    return AttackContext(toy_split_fixture.auxiliary, np.random.default_rng(0), 0, Cache(tmp_path / "cache"), "image",
                         target_recipe=dict(TOY_RECIPE), build_shadow=toy_shadow, progress=False)
