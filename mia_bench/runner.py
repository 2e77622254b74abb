"""The runner: execute a validated plan cell by cell. No attack-specific code lives here.

For each cell: skip it if its result is on disk (resume), else load the split, build
(or fetch from the cache) the target, hand the attack only what its threat model
grants, score, evaluate, and write the record atomically. A failing cell is recorded as
an error and the run goes on; a re-run retries it.

With a parallel executor (process pool, Ray) the pending cells are grouped by target
(target, control, dataset, defense, seed) and each group is one task: a worker rebuilds
the group's plan from spec strings, builds or fetches that target once and runs the
group's cells serially, writing their records into the same results folder. Model-free
cells are tasks of their own. Shared artefacts (worlds, trained targets, shadow models)
meet in the cache, whose lock makes concurrent builds of one entry safe. On a cluster
of several machines the results and cache folders must be on a shared filesystem.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .attack import Attack, AttackContext, AttackOutput
from .cache import Cache, stable_hash
from .data import Challenge, MembershipSplit
from .errors import MiaBenchError
from .executor import Executor, Resources, SerialExecutor
from .plan import Cell, Plan, build_plan
from .registry import ComponentSpec
from .records import AttackInfo, CellRecord, Cost, SplitInfo, TargetInfo, ThreatModel
from .results import environment, finished_record, write_cell
from .target import BuildRequest, MeteredTarget, Target

log = logging.getLogger(__name__)


@dataclass
class RunConfig:
    out_dir: Path
    cache: Cache
    n_boot: int = 1000
    folds: int = 5
    progress: bool = True
    rerun: bool = False
    executor: Executor = field(default_factory=SerialExecutor)
    resources: Resources = Resources()  # what each task (a group of cells) asks the executor for


@dataclass
class RunSummary:
    finished: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def strip_challenge(challenge: Challenge, attack: Attack) -> Challenge:
    """Remove every modality the attack's threat model does not grant it."""
    drop = []
    if "media" not in attack.inputs:
        drop += ["image", "audio"]
    if "text" not in attack.inputs:
        drop.append("text")
    samples = challenge.samples.without(*drop) if drop else challenge.samples
    evidence = challenge.evidence if "media" in attack.inputs else None
    return Challenge(challenge.unit, samples, evidence)


def row_groups(challenge: Challenge) -> np.ndarray:
    """The group of each challenge row: its identity, or the row itself when it has none."""
    s = challenge.samples
    return np.array([ident if ident is not None else f"row:{i}" for i, ident in zip(s.ids, s.identities)])


def challenge_subset(challenge: Challenge, rows: np.ndarray) -> Challenge:
    samples = challenge.samples.subset(rows)
    evidence = challenge.evidence
    if evidence is not None:
        keep = set(samples.identities)
        evidence = evidence.subset([i for i, x in enumerate(evidence.identities) if x in keep])
    return Challenge(challenge.unit, samples, evidence)


class Runner:
    def __init__(self, plan: Plan, config: RunConfig):
        self.plan, self.config = plan, config
        self._worlds: dict[Any, Any] = {}
        self._splits: dict[Any, MembershipSplit] = {}
        self._targets: dict[Any, Target | BaseException] = {}
        self._utility: dict[str, dict] = {}

    # --- shared artefacts, built once per run and cached on disk ------------------
    def split(self, cell: Cell) -> MembershipSplit:
        key = (cell.dataset, cell.seed)
        if key not in self._splits:
            provider = self.plan.datasets[cell.dataset].component
            if cell.dataset not in self._worlds:
                self._worlds[cell.dataset] = provider.load_world(self.config.cache)
            self._splits[key] = provider.split(self._worlds[cell.dataset], cell.seed)
        return self._splits[key]

    def target(self, cell: Cell) -> Target:
        key = (cell.target, cell.control, cell.dataset, cell.defense, cell.seed)
        if key not in self._targets:
            split = self.split(cell)
            builder = self.plan.targets[cell.target].component
            request = BuildRequest(
                split=split,
                train=split.null_train if cell.control == "null" else split.train,
                seed=cell.seed,
                cache=self.config.cache,
                defense=self.plan.defenses[cell.defense].component,
                control=cell.control,
                progress=self.config.progress,
            )
            try:
                self._targets[key] = builder.build(request)
            except Exception as exc:  # every cell on this target reports the same failure
                self._targets[key] = exc
        built = self._targets[key]
        if isinstance(built, BaseException):
            raise built
        return built

    # --- cells -------------------------------------------------------------------
    def run(self) -> RunSummary:
        if not isinstance(self.config.executor, SerialExecutor):
            return self._fan_out()
        summary = RunSummary()
        start = time.perf_counter()
        cells = self.plan.cells
        bar = _progress(cells, self.config.progress)
        for cell in bar:
            attack, key = self.plan.attack(cell), cell.key
            if hasattr(bar, "set_description"):
                bar.set_description(f"{cell.attack.name} on {cell.target_label} [{cell.unit}]")
            if not self.config.rerun and finished_record(self.config.out_dir, key) is not None:
                summary.resumed.append(key)
                continue
            try:
                self._run_cell(cell, attack)
                summary.finished.append(key)
            except Exception as exc:  # recorded, and the run goes on
                log.warning("cell %s failed: %s", cell.to_dict(), exc)
                summary.errors[key] = f"{type(exc).__name__}: {exc}"
                write_cell(self.config.out_dir, self._error_record(cell, attack, exc))
        summary.seconds = time.perf_counter() - start
        return summary

    def context_for(self, cell: Cell, split: MembershipSplit) -> AttackContext:
        """The context an attack gets in this cell (its named random stream, aux data, cache)."""
        builder = self.plan.targets[cell.target].component
        stream = np.random.default_rng([cell.seed, int(stable_hash(cell.to_dict(), 8), 16)])
        return AttackContext(
            auxiliary=split.auxiliary,
            rng=stream,
            seed=cell.seed,
            cache=self.config.cache,
            modality=split.world.modality,
            target_recipe=builder.recipe(),
            build_shadow=getattr(builder, "build_shadow", None),
            progress=self.config.progress,
            target_spec=str(cell.target),
            executor=self.config.executor,
        )

    def _fan_out(self) -> RunSummary:
        """Run the pending cells as tasks on the executor, one task per target group;
        cells already on disk are resumed here and never sent to a worker."""
        summary, start, cfg = RunSummary(), time.perf_counter(), self.config
        groups: dict[tuple, list[tuple[Cell, Attack, str]]] = {}
        for cell in self.plan.cells:
            attack, key = self.plan.attack(cell), cell.key
            if not cfg.rerun and finished_record(cfg.out_dir, key) is not None:
                summary.resumed.append(key)
                continue
            group = (cell,) if attack.model_free else (cell.target, cell.control, cell.dataset, cell.defense, cell.seed)
            groups.setdefault(group, []).append((cell, attack, key))
        refs = plugin_refs() if groups else []
        payloads = [{"cells": [c.to_dict() for c, _, _ in members], "keys": [k for _, _, k in members],
                     # absolute: a worker's working directory need not be ours
                     "out_dir": str(Path(cfg.out_dir).resolve()), "cache_root": str(cfg.cache.root.resolve()),
                     "n_boot": cfg.n_boot,
                     "folds": cfg.folds, "rerun": cfg.rerun, "plugins": refs} for members in groups.values()]
        results = cfg.executor.map(run_cell_group, payloads, cfg.resources, return_exceptions=True,
                                   desc="cell groups" if cfg.progress else None)
        for members, result in zip(groups.values(), results):
            if isinstance(result, BaseException):  # the task itself failed: worker lost, plugin import...
                for cell, attack, key in members:
                    summary.errors[key] = f"{type(result).__name__}: {result}"
                    write_cell(cfg.out_dir, self._error_record(cell, attack, result))
                continue
            summary.finished += result["finished"]
            summary.resumed += result["resumed"]
            summary.errors.update(result["errors"])
        summary.seconds = time.perf_counter() - start
        return summary

    def _run_cell(self, cell: Cell, attack: Attack) -> None:
        split = self.split(cell)
        challenge, labels = split.challenge(cell.unit)
        challenge = strip_challenge(challenge, attack)
        target = None
        if not attack.model_free:
            inner = self.target(cell)
            target = MeteredTarget(inner, attack.name, allow_media=attack.sends_biometrics())
            if inner.fingerprint not in self._utility and ("image" in inner.capabilities or "audio" in inner.capabilities):
                from .utility import utility_metrics

                self._utility[inner.fingerprint] = utility_metrics(inner, split)
        context = self.context_for(cell, split)
        t0 = time.perf_counter()
        if attack.supervised:
            output = self._cross_fit(attack, target, challenge, labels, context)
        else:
            output = attack.run(target, challenge, context)
        seconds = time.perf_counter() - t0
        output = output.validated(len(challenge), attack.name)
        report = metrics.evaluate(output.scores, labels, output.decisions, n_boot=self.config.n_boot, seed=cell.seed,
                                  groups=row_groups(challenge))
        record = self._record(cell, attack, split, target, output, report, seconds)
        arrays = {"scores": output.scores, "labels": labels, "ids": np.array(challenge.samples.ids)}
        if output.decisions is not None:
            arrays["decisions"] = output.decisions
        arrays.update({f"feature_{k}": np.asarray(v) for k, v in output.features.items()})
        write_cell(self.config.out_dir, record, arrays)

    def _cross_fit(self, attack, target, challenge, labels, context) -> AttackOutput:
        """k-fold cross-fitting by group: no row is scored by a model that saw its label, or
        the label of another row of the same person (which would leak it through the name)."""
        from sklearn.model_selection import StratifiedGroupKFold

        n = len(challenge)
        scores = np.zeros(n)
        decisions = np.zeros(n, dtype=bool)
        folds = StratifiedGroupKFold(self.config.folds, shuffle=True, random_state=context.seed)
        for train_idx, test_idx in folds.split(np.zeros(n), labels, groups=row_groups(challenge)):
            fold_attack = type(attack)(attack.options)
            fold_attack.fit(challenge_subset(challenge, train_idx), labels[train_idx], context)
            out = fold_attack.run(target, challenge_subset(challenge, test_idx), context)
            scores[test_idx] = out.validated(len(test_idx), attack.name).scores
            if out.decisions is not None:
                decisions[test_idx] = out.decisions
        return AttackOutput(scores=scores, decisions=decisions, info={"cross_fit_folds": self.config.folds})

    def _record(self, cell, attack, split, target, output, report, seconds) -> CellRecord:
        resolved = self.plan.attacks[cell.attack]
        n = len(output.scores)
        counts = dict(target.counts) if isinstance(target, MeteredTarget) else {}
        return CellRecord(
            key=cell.key,
            status="ok",
            cell=cell.spec(),
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            attack=AttackInfo(attack.name, attack.version, resolved.plugin,
                              attack.options.model_dump() if attack.options is not None else {}),
            target=None if target is None else TargetInfo(
                target.name, cell.target_label, target.fingerprint, target.info,
                self._utility.get(target.fingerprint, {})),
            split=SplitInfo(split.fingerprint(), split.dataset, split.world.modality, cell.unit,
                            int(report.n_members), int(report.n_nonmembers), split.config),
            threat_model=threat_model(attack),
            metrics=report,
            cost=Cost(
                seconds=seconds,
                # an attack that reuses cached work reports what the audit really costs
                seconds_per_query=float(output.info.get("audit_seconds", seconds)) / max(n, 1),
                target_queries=counts,
                target_queries_total=sum(counts.values()),
                shadow_models_trained=int(output.info.get("shadow_models_trained", 0)),
            ),
            info=output.info,
            environment=environment(),
        )

    def _error_record(self, cell: Cell, attack: Attack, exc: BaseException) -> CellRecord:
        return CellRecord(
            key=cell.key,
            status="error",
            cell=cell.spec(),
            attack=AttackInfo(attack.name, attack.version),
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc)),
            environment=environment(),
            threat_model=threat_model(attack),  # declared, so the failure is filed where the attack belongs
        )


def threat_model(attack: Attack) -> ThreatModel:
    """What the attack declares it sends and needs (the leaderboard files rows by it)."""
    return ThreatModel(
        biometric_data_sent=attack.sends_biometrics(),
        inputs=tuple(sorted(attack.inputs)),
        requires=() if attack.model_free else tuple(sorted(attack.requires)),
        model_free=attack.model_free,
        supervised=attack.supervised,
    )


def _progress(cells: list[Cell], enabled: bool):
    if not enabled:
        return cells
    from tqdm.auto import tqdm

    return tqdm(cells, unit="cell", dynamic_ncols=True)


# --- fan-out: what a worker process runs ------------------------------------------
def plugin_refs() -> list[tuple[str, str]]:
    """The registered plugins as importable ``module[:attribute]`` references, so that a
    worker registers exactly the driver's plugins (entry points, or ones a test added)."""
    from types import ModuleType

    from .plugins import load_plugins

    refs = []
    for name, plugin in load_plugins().list_name_plugin():
        if isinstance(plugin, ModuleType):
            refs.append((name, plugin.__name__))
            continue
        module = sys.modules.get(getattr(plugin, "__module__", None) or "")
        attr = next((k for k, v in vars(module).items() if v is plugin), None) if module else None
        if attr is None:
            raise MiaBenchError(f"Plugin {name!r} ({plugin!r}) cannot be loaded in a worker process: register a "
                                "module or a module-level object, or run with the serial executor.")
        refs.append((name, f"{module.__name__}:{attr}"))
    return refs


def _import_ref(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


def run_cell_group(payload: dict) -> dict:
    """One task: run some cells of a plan here, serially, writing their records into the
    run's folder. Everything arrives as plain data (spec strings, paths, plugin references)."""
    from .testing import isolated_plugins  # swaps in exactly the driver's plugins, then restores

    with isolated_plugins(*[(name, _import_ref(ref)) for name, ref in payload["plugins"]]):
        cells = payload["cells"]
        targets = []
        for c in cells:
            spec = ComponentSpec.parse(c["target"])
            if c["control"] != "none":
                spec = ComponentSpec(spec.name, spec.arg, {**spec.options, "control": c["control"]})
            targets.append(str(spec))
        plan = build_plan(list(dict.fromkeys(c["attack"] for c in cells)), list(dict.fromkeys(targets)),
                          list(dict.fromkeys(c["dataset"] for c in cells)),
                          list(dict.fromkeys(c["defense"] for c in cells)),
                          list(dict.fromkeys(c["seed"] for c in cells)))
        keys = set(payload["keys"])
        plan.cells = [c for c in plan.cells if c.key in keys]
        if len(plan.cells) != len(keys):
            raise MiaBenchError(f"a worker rebuilt {len(plan.cells)} of {len(keys)} cells from their specs: {cells}")
        config = RunConfig(Path(payload["out_dir"]), Cache(payload["cache_root"]), n_boot=payload["n_boot"],
                           folds=payload["folds"], progress=False, rerun=payload["rerun"])  # serial: no nested pools
        summary = Runner(plan, config).run()
    return {"finished": summary.finished, "resumed": summary.resumed, "errors": summary.errors}
