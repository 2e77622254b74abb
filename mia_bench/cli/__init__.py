"""The ``mia-bench`` command line. Library code raises; only this layer prints.

One module per command group; heavy modules (torch, open_clip) load only inside the
commands that need them, so ``mia-bench --help`` and ``mia-bench ls`` stay fast.
"""

from __future__ import annotations

import sys

import click

from ..errors import MiaBenchError


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MiaBenchError as exc:
            click.secho(f"Error: {exc}", fg="red", err=True)
            sys.exit(2)
        except KeyboardInterrupt:  # Ctrl-C (or SIGTERM during a run): finished cells stay on disk
            click.secho("Interrupted: finished cells are kept; run the same command again to resume.",
                        fg="red", err=True)
            sys.exit(130)


@click.group(cls=_Group)
@click.version_option(package_name="mia-bench")
def cli() -> None:
    """Membership-inference attacks on contrastive models (CLIP, CLAP): run, compare, audit."""


def _register_commands() -> None:
    from . import inspect_cmds, run_cmds  # noqa: F401  (commands attach to `cli`)
    from ..plugins import load_plugins

    try:
        load_plugins().hook.register_commands(cli=cli)
    except MiaBenchError as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(2)


def main() -> None:
    _register_commands()
    cli()
