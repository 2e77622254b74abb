"""Every hook a mia-bench plugin can implement.

A plugin is a module (or object) registered under the ``mia_bench`` entry-point group
(first-party plugins use the same group as third-party ones). It implements any of the
hooks below with ``@mia_bench.hookimpl``; hook names are checked when plugins load, so a
misspelled hook raises instead of being silently ignored.

Each ``register_*`` hook is called once, the first time components of that kind are
needed, with a ``register`` callback; the plugin calls ``register(ComponentClass)`` for
each component it provides. Component classes are described in ``mia_bench.attack``,
``mia_bench.target``, ``mia_bench.dataset``, ``mia_bench.defense`` and ``mia_bench.report``.
"""

from __future__ import annotations

from typing import Callable

import pluggy

hookspec = pluggy.HookspecMarker("mia_bench")
hookimpl = pluggy.HookimplMarker("mia_bench")


@hookspec
def register_attacks(register: Callable[[type], None]) -> None:
    """Register membership-inference attacks.

    Called once when attacks are first listed or resolved. Call ``register(cls)`` with a
    subclass of :class:`mia_bench.attack.Attack` for each attack. Returns nothing.
    """


@hookspec
def register_targets(register: Callable[[type], None]) -> None:
    """Register target-model builders.

    Call ``register(cls)`` with a subclass of :class:`mia_bench.target.TargetBuilder`.
    A builder turns a spec (``name[:arg]``, options) plus a membership split into a
    loaded :class:`mia_bench.target.Target`, training it first when it is trained here.
    """


@hookspec
def register_datasets(register: Callable[[type], None]) -> None:
    """Register benchmark datasets.

    Call ``register(cls)`` with a subclass of :class:`mia_bench.dataset.DatasetProvider`,
    which builds a :class:`mia_bench.data.World` and cuts it into membership splits.
    """


@hookspec
def register_defenses(register: Callable[[type], None]) -> None:
    """Register defenses.

    Call ``register(cls)`` with a subclass of :class:`mia_bench.defense.Defense`, which
    changes a target's training recipe and/or which checkpoint is released.
    """


@hookspec
def register_reports(register: Callable[[type], None]) -> None:
    """Register reports.

    Call ``register(cls)`` with a subclass of :class:`mia_bench.report.Report`, which turns
    a results folder's records into tables and plots (``mia-bench report NAME --out DIR``).
    """


@hookspec
def register_commands(cli) -> None:
    """Add commands to the ``mia-bench`` command line.

    ``cli`` is the root ``click.Group``; add commands with ``@cli.command()``. Called once
    when the CLI starts. Returns nothing.
    """
