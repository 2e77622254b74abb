"""The programmatic API: what notebooks, benchmarks and plugins' experiment commands use.

Plugins never import the plan or the runner; they go through these functions, which keep
the one execution path (resume, cache, records) of ``mia-bench run``:

- :func:`resolve`: one component from its spec, validated as in a plan;
- :func:`run`: run a grid into a results folder and get its typed records;
- :class:`Session`: score attack specs one at a time on the targets of a split (for
  ablations that compare many configurations of one attack on one trained target).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .attack import AttackOutput
from .cache import Cache
from .data import Unit
from .metrics import MetricReport, evaluate
from .plugins import Plugins
from .records import CellRecord, load_records


def resolve(kind: str, spec: Any, plugins: Plugins | None = None) -> Any:
    """Instantiate one component (``kind`` in attack, target, dataset, defense, report)."""
    from .plan import resolve as _resolve

    return _resolve(kind, spec, plugins)


def run(attacks: list, targets: list, datasets: list, *, out: Path, defenses: list | None = None,
        seeds: list[int] | None = None, units: tuple[str, ...] | None = None, cache: Cache | Path | None = None,
        n_boot: int = 1000, progress: bool = True, rerun: bool = False,
        plugins: Plugins | None = None) -> list[CellRecord]:
    """Run the grid (only ``units`` when given) into ``out`` and return its records, in
    plan order; cells already there are resumed."""
    from .plan import build_plan
    from .runner import RunConfig, Runner

    plan = build_plan(attacks, targets, datasets, defenses, seeds, plugins=plugins)
    if units is not None:
        plan.cells = [c for c in plan.cells if c.unit in units]
    cache = cache if isinstance(cache, Cache) else Cache(cache)
    Runner(plan, RunConfig(Path(out), cache, n_boot=n_boot, progress=progress, rerun=rerun)).run()
    by_key = {r.key: r for r in load_records(out, plan=plan)}
    return [by_key[c.key] for c in plan.cells if c.key in by_key]


@dataclass(frozen=True)
class Scored:
    """One attack configuration scored on one target: its output, the labels and metrics."""

    output: AttackOutput
    labels: np.ndarray
    report: MetricReport
    seconds: float


class Session:
    """A target spec (and its null control) on one dataset and seed, built once and cached,
    on which attack specs are scored one at a time without writing records."""

    def __init__(self, target: str, dataset: str, seed: int = 0, cache: Path | None = None,
                 plugins: Plugins | None = None, progress: bool = False):
        from .plan import build_plan
        from .runner import RunConfig, Runner

        null = target + ("&" if "?" in target else "?") + "control=null"
        # a plan only to resolve and validate the target, its null and the dataset: attacks
        # come later, one spec at a time (blind stands in: it needs no capability)
        self._plan = build_plan(["blind"], [target, null], [dataset], None, [seed], plugins=plugins)
        self._runner = Runner(self._plan, RunConfig(Path("."), Cache(cache), progress=progress))
        self._cells = {c.control: c for c in self._plan.cells}  # blind is model-free: one cell, control none
        self._cells["null"] = replace(self._cells["none"], control="null")
        self.seed = seed

    def score(self, attack: str | dict, unit: Unit = "identity", control: str = "none", n_boot: int = 1000) -> Scored:
        """Run one attack spec on the target (or its null control) at ``unit`` level."""
        from .runner import strip_challenge
        from .target import MeteredTarget

        component = resolve("attack", attack, self._plan.plugins)
        cell = self._cells[control]
        split = self._runner.split(cell)
        challenge, labels = split.challenge(unit)
        challenge = strip_challenge(challenge, component)
        target = None if component.model_free else MeteredTarget(
            self._runner.target(cell), component.name, allow_media=component.sends_biometrics())
        t0 = time.perf_counter()
        output = component.run(target, challenge, self._runner.context_for(cell, split, component))
        seconds = time.perf_counter() - t0
        output = output.validated(len(challenge), component.name)
        report = evaluate(output.scores, labels, output.decisions, n_boot=n_boot, seed=self.seed)
        return Scored(output, labels, report, seconds)
