"""Commands that inspect without running: ls, plugins, validate."""

from __future__ import annotations

import json

import click

from .group import cli
from .options import selection_options, selection_plan

KIND_CHOICES = ("attacks", "targets", "datasets", "defenses", "reports", "suites")


def _component_rows(kind: str) -> list[dict]:
    from ..plugins import registry
    from ..registry import describe_options

    rows = []
    for entry in registry(kind):
        comp = entry.component
        row = {"name": comp.name, "plugin": entry.plugin, "description": comp.description,
               "options": describe_options(comp)}
        if kind == "attack":
            row.update(units=list(comp.units), inputs=sorted(comp.inputs), requires=sorted(comp.requires),
                       biometric=comp.sends_biometrics(), version=comp.version)
        rows.append(row)
    return rows


@cli.command("ls")
@click.argument("kind", type=click.Choice(KIND_CHOICES))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def ls_cmd(kind: str, as_json: bool) -> None:
    """List registered attacks, targets, datasets, defenses, reports or named suites."""
    if kind == "suites":
        from ..suites import load_suite, named_suites

        rows = [{"name": n, "description": load_suite(n).get("description", "")} for n in named_suites()]
    else:
        rows = _component_rows(kind[:-1])
    if kind == "datasets":
        from ..presets import dataset_presets

        rows += [{"name": n, "plugin": f"preset of {p['base']}", "description": p.get("description", ""),
                  "options": [{"name": k, "default": v, "description": ""} for k, v in p.get("options", {}).items()]}
                 for n, p in dataset_presets().items()]
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        extra = f" [{row['plugin']}]" if "plugin" in row else ""
        click.echo(f"{click.style(row['name'], bold=True)}{extra}: {row.get('description', '')}")
        if kind == "attacks":
            click.echo(f"    units={','.join(row['units'])} inputs={','.join(row['inputs'])} "
                       f"requires={','.join(row['requires']) or '-'} biometric={'yes' if row['biometric'] else 'no'}")
        for opt in row.get("options", []):
            click.echo(f"    {opt['name']}={opt['default']!r}  {opt['description']}")


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_cmd(as_json: bool) -> None:
    """List loaded plugins and the hooks each implements."""
    from ..plugins import plugin_info

    info = plugin_info()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for p in info:
        dist = f" ({p['distribution']} {p['version']})" if p["distribution"] else ""
        click.echo(f"{click.style(p['name'], bold=True)}{dist}: {', '.join(p['hooks'])}")


@cli.command("validate")
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def validate_cmd(as_json: bool, **selection) -> None:
    """Resolve names, options and capabilities of a run, and check each dataset's metadata, without
    decoding any image or loading any weights. With --json, an invalid run prints
    {"valid": false, "error": ...} and exits 2."""
    from ..errors import MiaBenchError
    from ..plan import check_data

    try:
        plan, suite = selection_plan(**selection)
        data = check_data(plan)  # reads each dataset's columns: a split that cannot be cut fails here, not at run time
    except MiaBenchError as exc:
        if not as_json:
            raise
        click.echo(json.dumps({"valid": False, "error": str(exc), "error_type": type(exc).__name__}, indent=2))
        raise SystemExit(2) from None
    cells = [c.to_dict() for c in plan.cells]
    if as_json:
        click.echo(json.dumps({"suite": suite.get("name"), "valid": True, "datasets": data, "cells": cells}, indent=2))
        return
    click.echo(f"OK: {len(cells)} cells in suite {suite.get('name')!r}; all names, options, capabilities and "
               "dataset columns resolve.")
    for spec, summary in data.items():
        if summary:
            click.echo(f"  dataset {spec}: " + ", ".join(f"{k}={v}" for k, v in summary.items()))
    for c in cells:
        ctl = " (null)" if c["control"] == "null" else ""
        click.echo(f"  {c['attack']} x {c['target']}{ctl} x {c['dataset']} [{c['unit']}] defense={c['defense']} seed={c['seed']}")
