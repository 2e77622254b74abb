"""Test kit for mia-bench and its plugin authors.

- :mod:`.toy`: :class:`ToyTarget` (a cheap deterministic two-tower "model" with a planted
  membership signal), :func:`toy_split`, and :data:`toy_plugin` (a toy dataset + target).
- :mod:`.checks`: :func:`check_attack`, :func:`check_target`, :func:`check_split`:
  conformance checks every component of that kind should pass.
- :mod:`.fixtures`: pytest fixtures (``pytest_plugins = ["mia_bench.testing.fixtures"]``).
- :func:`isolated_plugins`: a block with a :class:`~mia_bench.plugins.Plugins` of its own.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

try:  # the checks' asserts get pytest's detailed messages when run under pytest
    import pytest

    pytest.register_assert_rewrite("mia_bench.testing.checks")
except ImportError:  # pragma: no cover - the kit works without pytest
    pass

from ..plugins import Plugins, use_plugins
from .checks import check_attack, check_split, check_target
from .toy import TOY_RECIPE, ToyDataset, ToyTarget, ToyTargetBuilder, toy_plugin, toy_shadow, toy_split, toy_world

__all__ = ["TOY_RECIPE", "ToyDataset", "ToyTarget", "ToyTargetBuilder", "check_attack", "check_split",
           "check_target", "isolated_plugins", "toy_plugin", "toy_shadow", "toy_split", "toy_world"]


@contextlib.contextmanager
def isolated_plugins(*plugins: object, load_entry_points: bool = False) -> Iterator[Plugins]:
    """Run a block with only the given plugins registered (plus entry points if asked): a
    :class:`~mia_bench.plugins.Plugins` of its own is the default inside the block.

    Each plugin is an object/module, or a ``(name, plugin)`` pair to keep its name.
    """
    with use_plugins(Plugins.of(*plugins, entry_points=load_entry_points)) as own:
        yield own
