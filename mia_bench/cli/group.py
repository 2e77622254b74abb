"""The root ``mia-bench`` click group; command modules attach to it (``from .group import cli``)."""

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
