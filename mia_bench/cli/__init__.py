"""The ``mia-bench`` command line. Library code raises; only this layer prints.

One module per command group; heavy modules (torch, open_clip) load only inside the
commands that need them, so ``mia-bench --help`` and ``mia-bench ls`` stay fast.
"""

from __future__ import annotations

import sys

import click

from ..errors import MiaBenchError
from .group import cli

__all__ = ["cli", "main"]


def _register_commands() -> None:
    from . import export_cmds, inspect_cmds, run_cmds, site_cmds  # noqa: F401  (commands attach to `cli`)
    from ..plugins import load_plugins

    try:
        load_plugins().hook.register_commands(cli=cli)
    except MiaBenchError as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(2)


def main() -> None:
    _register_commands()
    cli()
