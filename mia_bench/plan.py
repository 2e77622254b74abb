"""Plans: the grid of cells a run executes, resolved and validated before any model loads.

A cell is one (attack, target, control, dataset, defense, seed, unit). Resolving a plan
instantiates every component from its spec (unknown names and bad options fail here,
with did-you-mean hints), and checks each attack's declared needs against the target's
declared capabilities and the dataset's modality.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any, cast

from .attack import Attack
from .cache import stable_hash
from .data import Unit
from .errors import IncompatibleError, InvalidOptionsError
from .plugins import Plugins, default_plugins
from .records import CellSpec
from .registry import ComponentSpec, validate_options

CONTROLS = ("none", "null")


@dataclass(frozen=True)
class Cell:
    """One grid point. ``key`` names its result file: computed once, when the plan is made,
    from the spec strings and the attack's version (:func:`cell_key`)."""

    attack: ComponentSpec
    target: ComponentSpec
    dataset: ComponentSpec
    defense: ComponentSpec
    seed: int
    unit: Unit
    control: str = "none"
    key: str = field(default="", compare=False)

    def to_dict(self) -> dict:
        return {
            "attack": str(self.attack),
            "target": str(self.target),
            "control": self.control,
            "dataset": str(self.dataset),
            "defense": str(self.defense),
            "seed": self.seed,
            "unit": self.unit,
        }

    def spec(self) -> CellSpec:
        return CellSpec(**self.to_dict())

    @property
    def target_label(self) -> str:
        return str(self.target) + (" (null)" if self.control == "null" else "")


@dataclass
class Resolved:
    """Instantiated components of one spec, shared by all cells that name it."""

    spec: ComponentSpec
    component: Any
    plugin: str


@dataclass
class Plan:
    cells: list[Cell]
    attacks: dict[ComponentSpec, Resolved] = field(default_factory=dict)
    targets: dict[ComponentSpec, Resolved] = field(default_factory=dict)
    datasets: dict[ComponentSpec, Resolved] = field(default_factory=dict)
    defenses: dict[ComponentSpec, Resolved] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    plugins: Plugins = field(default_factory=default_plugins)

    def attack(self, cell: Cell) -> Attack:
        return self.attacks[cell.attack].component


def _resolve(kind: str, spec: ComponentSpec, plugins: Plugins) -> Resolved:
    if kind == "dataset":  # presets (mia_bench/builtin/presets/*.toml) expand to a base dataset + options
        from .presets import expand_dataset_spec

        resolved = _resolve_component(kind, expand_dataset_spec(spec), plugins)
        return Resolved(spec, resolved.component, resolved.plugin)
    return _resolve_component(kind, spec, plugins)


def resolve(kind: str, spec: str | dict | ComponentSpec, plugins: Plugins | None = None):
    """Instantiate one component from its spec (e.g. an attack building shadows from another
    dataset or target); names and options are validated as in a plan."""
    spec = spec if isinstance(spec, ComponentSpec) else ComponentSpec.parse(spec)
    return _resolve(kind, spec, plugins or default_plugins()).component


def _resolve_component(kind: str, spec: ComponentSpec, plugins: Plugins) -> Resolved:
    entry = plugins.registry(kind).entry(spec.name)
    cls = entry.component
    options = validate_options(cls, kind, spec.options)
    if kind in ("attack", "defense", "report"):
        obj = cls(options)
    else:
        obj = cls(spec.arg, options)
    if hasattr(obj, "check"):
        obj.check()
    return Resolved(spec, obj, entry.plugin)


def _target_base(spec: ComponentSpec) -> tuple[ComponentSpec, str]:
    """Split the reserved ``control`` option off a target spec."""
    opts = dict(spec.options)
    control = str(opts.pop("control", "none"))
    if control not in CONTROLS:
        raise InvalidOptionsError(
            f"Target option control={control!r} is not valid; valid: {', '.join(CONTROLS)} "
            "('null' trains the same recipe without the member identities)."
        )
    return ComponentSpec(spec.name, spec.arg, opts), control


def build_plan(
    attacks: list[str | dict],
    targets: list[str | dict],
    datasets: list[str | dict],
    defenses: list[str | dict] | None = None,
    seeds: list[int] | None = None,
    settings: dict | None = None,
    plugins: Plugins | None = None,
) -> Plan:
    """Resolve specs and form the cross product; raise on the first invalid name/option."""
    plan = Plan(cells=[], settings=settings or {}, plugins=plugins or default_plugins())
    for kind, specs, store in (
        ("attack", attacks, plan.attacks),
        ("dataset", datasets, plan.datasets),
        ("defense", defenses or ["none"], plan.defenses),
    ):
        for text in specs:
            spec = ComponentSpec.parse(text)
            store.setdefault(spec, _resolve(kind, spec, plan.plugins))
    target_specs = []
    for text in targets:
        base, control = _target_base(ComponentSpec.parse(text))
        plan.targets.setdefault(base, _resolve("target", base, plan.plugins))
        target_specs.append((base, control))
    fingerprints = {(kind, spec): _input_fingerprint(r.component)
                    for kind, store in (("target", plan.targets), ("dataset", plan.datasets))
                    for spec, r in store.items()}
    for (a, ra), (t, control), d, f, seed in itertools.product(
        plan.attacks.items(), target_specs, plan.datasets, plan.defenses, seeds or [0]
    ):
        if ra.component.model_free and (t, control) != target_specs[0]:
            continue  # a model-free attack never sees the target: one cell is enough
        inputs = {"dataset": fingerprints["dataset", d]}
        if not ra.component.model_free:  # a model-free attack never sees the target's weights
            inputs["target"] = fingerprints["target", t]
        for unit in ra.component.units:
            cell = Cell(a, t, d, f, int(seed), unit, control)
            plan.cells.append(replace(cell, key=cell_key(cell, ra.component.version, inputs)))
    validate(plan)
    return plan


def plan_from_cells(cells: list[CellSpec], plugins: Plugins) -> Plan:
    """A plan of exactly these cells (a worker's task): only their components are resolved."""
    plan = Plan(cells=[], plugins=plugins)
    for c in cells:
        spec = {kind: ComponentSpec.parse(getattr(c, kind)) for kind in ("attack", "target", "dataset", "defense")}
        for kind, store in (("attack", plan.attacks), ("target", plan.targets), ("dataset", plan.datasets),
                            ("defense", plan.defenses)):
            if spec[kind] not in store:
                store[spec[kind]] = _resolve(kind, spec[kind], plugins)
        attack = plan.attacks[spec["attack"]].component
        inputs = {"dataset": _input_fingerprint(plan.datasets[spec["dataset"]].component)}
        if not attack.model_free:  # as in build_plan: the same cell gets the same key
            inputs["target"] = _input_fingerprint(plan.targets[spec["target"]].component)
        unit = cast(Unit, c.unit)  # the record was written from a Cell
        cell = Cell(spec["attack"], spec["target"], spec["dataset"], spec["defense"], c.seed, unit, c.control)
        plan.cells.append(replace(cell, key=cell_key(cell, attack.version, inputs)))
    validate(plan)
    return plan


def cell_key(cell: Cell, attack_version: str, inputs: dict[str, str | None] | None = None) -> str:
    """The one definition of a cell's result key: the spec strings, the attack's version
    and, for components that name local files (a checkpoint, a dataset folder), those
    files' content fingerprints, so a file replaced in place is recomputed, not resumed.
    Without such files the key is the spec-only key it always was (committed results resume)."""
    fields = {**cell.to_dict(), "attack_version": attack_version}
    inputs = {k: v for k, v in (inputs or {}).items() if v is not None}
    if inputs:
        fields["inputs"] = inputs
    return stable_hash(fields)


def _input_fingerprint(component: Any) -> str | None:
    """A component's :meth:`input_fingerprint` (optional: plugins may not define it)."""
    method = getattr(component, "input_fingerprint", None)
    return method() if callable(method) else None


def required_capabilities(attack: Attack, modality: str) -> frozenset[str]:
    return frozenset(modality if need == "media" else need for need in attack.requires)


def incompatibilities(plan: Plan, cell: Cell) -> list[str]:
    attack = plan.attack(cell)
    builder = plan.targets[cell.target].component
    dataset = plan.datasets[cell.dataset].component
    problems: list[str] = []
    if attack.model_free:
        return problems
    offered = builder.capabilities(dataset.modality)
    missing = required_capabilities(attack, dataset.modality) - offered
    if missing:
        problems.append(
            f"attack {cell.attack.name!r} needs {sorted(missing)} but target {str(cell.target)!r} offers "
            f"{sorted(offered)} on {dataset.modality} data"
        )
    problems += attack.incompatibilities(builder, dataset)
    if cell.control == "null" and not getattr(builder, "has_null_control", builder.trains_on_split):
        problems.append(f"target {str(cell.target)!r} is not trained here, so it has no null-target control; "
                        "pass its owner's null model as control_checkpoint=PATH, or drop the control=null target")
    return problems


def validate(plan: Plan) -> None:
    """Raise :class:`IncompatibleError` listing every incompatible cell (nothing is loaded)."""
    problems = sorted({p for cell in plan.cells for p in incompatibilities(plan, cell)})
    if problems:
        raise IncompatibleError(
            "Incompatible components (fix the suite or pick other components):\n  - " + "\n  - ".join(problems)
        )


def check_data(plan: Plan) -> dict[str, dict]:
    """Each dataset's metadata check (:meth:`DatasetProvider.check_data`: columns only, no media
    decoded, nothing trained), by dataset spec; raises on the first dataset with problems."""
    return {str(spec): r.component.check_data() for spec, r in plan.datasets.items()
            if hasattr(r.component, "check_data")}
