"""Shared CLI options: choose a suite, or components with -a/-t/-d/--defense/--seed."""

from __future__ import annotations

import functools

import click


def selection_options(fn):
    @click.option("--suite", "-s", default=None, help="Named suite (quick, standard, ...) or a suite .toml file.")
    @click.option("--attack", "-a", "attacks", multiple=True, help="Attack spec NAME[?k=v&...]; repeatable.")
    @click.option("--target", "-t", "targets", multiple=True, help="Target spec NAME[:ARG][?k=v]; repeatable.")
    @click.option("--dataset", "-d", "datasets", multiple=True, help="Dataset spec; repeatable.")
    @click.option("--defense", "defenses", multiple=True, help="Defense spec; repeatable.")
    @click.option("--seed", "seeds", multiple=True, type=click.IntRange(min=0, max=2**32 - 1),
                  help="Run seed (0 to 2**32-1); repeatable.")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def selection_plan(suite, attacks, targets, datasets, defenses, seeds):
    """A plan from a suite, with any -a/-t/-d/--defense/--seed replacing that dimension."""
    from ..plan import build_plan
    from ..suites import load_suite, plan_suite

    base = load_suite(suite or "quick")
    if not (attacks or targets or datasets or defenses):
        return plan_suite(base, list(seeds) or None), base
    grid = base["grid"][0]
    custom = {
        "name": base["name"] if suite else "custom",
        "seeds": list(seeds) or base.get("seeds", [0]),
        "n_boot": base.get("n_boot", 1000),
    }
    plan = build_plan(
        list(attacks) or grid["attacks"],
        list(targets) or grid["targets"],
        list(datasets) or grid["datasets"],
        list(defenses) or grid.get("defenses"),
        custom["seeds"],
    )
    plan.settings = custom
    return plan, custom
