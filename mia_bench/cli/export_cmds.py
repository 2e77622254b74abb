"""``mia-bench export``: a run's per-sample scores as one tidy table (parquet or CSV)."""

from __future__ import annotations

from pathlib import Path

import click

from .group import cli


@cli.command("export")
@click.option("--out", "-o", type=click.Path(path_type=Path, exists=True, file_okay=False), default=Path("runs/quick"),
              show_default=True, help="Results folder of a run.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True)
@click.option("--to", "dest", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Output file (default OUT/samples.parquet or OUT/samples.csv).")
def export_cmd(out: Path, fmt: str, dest: Path | None) -> None:
    """One row per (cell, seed, sample): score, label, decision, id, identity group, and the
    cell's provenance (attack and options, target, control, dataset, defense, seed, unit, key,
    target and split fingerprints, attack version, git revision)."""
    from ..export import samples_table, write_table
    from ..results import load_records

    records = load_records(out)
    if not any(r.ok for r in records):
        raise click.ClickException(f"No finished cells under {out}/cells. Run `mia-bench run --out {out}` first.")
    table = samples_table(out, records)
    path = write_table(table, dest or out / f"samples.{fmt}", fmt)
    click.echo(f"{len(table)} rows from {table['key'].nunique()} cells written to {path}")
