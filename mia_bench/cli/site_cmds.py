"""The ``site`` command: a static leaderboard website from results folders."""

from __future__ import annotations

from pathlib import Path

import click

from .group import cli


@cli.command("site")
@click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder to write the site into (replaced if an earlier `mia-bench site` built it).")
@click.argument("results", nargs=-1, type=click.Path(path_type=Path, file_okay=False))
def site_cmd(out: Path, results: tuple[Path, ...]) -> None:
    """Build a static leaderboard site from RESULTS folders (default runs/quick).

    Each RESULTS path is a results folder of `mia-bench run` or a folder searched for
    them (e.g. leaderboards/). The site opens from file:// with no server: open
    OUT/index.html in a browser.
    """
    from ..site import build_site

    summary = build_site(out, list(results) or [Path("runs/quick")])
    click.echo(f"Site written to {out}/index.html: {len(summary.sources)} results folder(s), {summary.tracks} tracks, "
               f"{summary.entries} entries, {summary.pages} pages, {summary.bytes / 1e6:.1f} MB")
