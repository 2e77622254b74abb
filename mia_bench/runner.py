"""The runner: execute a validated plan cell by cell. No attack-specific code lives here.

For each cell: skip it if its result is on disk (resume), else load the split, build
(or fetch from the cache) the target, hand the attack only what its threat model
grants, score, evaluate, and write the record atomically. A failing cell is recorded as
an error and the run goes on; a re-run retries it.

There is one execution path: the pending cells are mapped, as groups, over the run's
executor. The serial executor runs a single group of all of them here, in plan order.
With a parallel executor (process pool, Ray) the cells are grouped by target (target,
control, dataset, defense, seed) and each group is one task: a worker receives the
frozen cells, resolves only their components with the driver's plugins, builds or
fetches that target once and runs the group's cells serially, writing their records
into the same results folder. Model-free cells are tasks of their own. Shared artefacts (worlds, trained targets, shadow models)
meet in the cache, whose lock makes concurrent builds of one entry safe. On a cluster
of several machines the results and cache folders must be on a shared filesystem.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics, output_cache
from .attack import Attack, AttackContext, AttackOutput
from .cache import Cache, stable_hash
from .data import Challenge, MembershipSplit
from .errors import MiaBenchError
from .executor import Executor, Resources, SerialExecutor
from .plan import Cell, Plan, plan_from_cells
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


def cross_fit(attack: Attack, target: Target | None, challenge: Challenge, labels: np.ndarray,
              context: AttackContext, folds: int = 5) -> AttackOutput:
    """k-fold cross-fitting of a supervised attack by group: no row is scored by a model that
    saw its label, or the label of another row of the same person (which would leak it
    through the name)."""
    from sklearn.model_selection import StratifiedGroupKFold

    n = len(challenge)
    scores = np.zeros(n)
    decisions = np.zeros(n, dtype=bool)
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=context.seed)
    for train_idx, test_idx in splitter.split(np.zeros(n), labels, groups=row_groups(challenge)):
        fold_attack = type(attack)(attack.options)
        fold_attack.fit(challenge_subset(challenge, train_idx), labels[train_idx], context)
        out = fold_attack.run(target, challenge_subset(challenge, test_idx), context)
        scores[test_idx] = out.validated(len(test_idx), attack.name).scores
        if out.decisions is not None:
            decisions[test_idx] = out.decisions
    return AttackOutput(scores=scores, decisions=decisions, info={"cross_fit_folds": folds})


class Runner:
    def __init__(self, plan: Plan, config: RunConfig):
        self.plan, self.config = plan, config
        self._worlds: dict[Any, Any] = {}
        self._splits: dict[Any, MembershipSplit] = {}
        self._targets: dict[Any, Target | BaseException] = {}
        self._utility: dict[str, dict] = {}
        self._environment: dict | None = None

    def environment(self) -> dict:
        """Package versions, git revision, and every plugin's distribution and version (third
        parties' too), recorded in each result."""
        if self._environment is None:
            plugins = {p["name"]: {"distribution": p["distribution"], "version": p["version"], "module": p["module"]}
                       for p in self.plan.plugins.info()}
            self._environment = {**environment(), "plugins": plugins}
        return self._environment

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
        """Resume what is on disk, then map the pending cell groups over the executor: the
        serial executor runs one group of every pending cell here, in plan order; process
        and Ray workers get one group per target and resolve only those cells."""
        summary, start, cfg = RunSummary(), time.perf_counter(), self.config
        pending = []
        for cell in self.plan.cells:
            if not cfg.rerun and finished_record(cfg.out_dir, cell.key) is not None:
                summary.resumed.append(cell.key)
            else:
                pending.append(cell)
        if getattr(cfg.executor, "in_process", False):
            groups = [pending] if pending else []
            results = cfg.executor.map(self.run_group, groups, cfg.resources, return_exceptions=True)
        else:
            groups = list(self._target_groups(pending).values())
            payload = self._payload()
            results = cfg.executor.map(run_cell_group, [{**payload, "cells": g} for g in groups], cfg.resources,
                                       return_exceptions=True, desc="cell groups" if cfg.progress else None)
        for cells, result in zip(groups, results):
            if isinstance(result, BaseException):  # the task itself failed: worker lost, plugin import...
                for cell in cells:
                    summary.errors[cell.key] = f"{type(result).__name__}: {result}"
                    write_cell(cfg.out_dir, self._error_record(cell, self.plan.attack(cell), result))
                continue
            summary.finished += result.finished
            summary.errors.update(result.errors)
        summary.seconds = time.perf_counter() - start
        return summary

    def _target_groups(self, cells: list[Cell]) -> dict[tuple, list[Cell]]:
        """One group per target build (model-free cells alone), so a worker builds it once."""
        groups: dict[tuple, list[Cell]] = {}
        for cell in cells:
            group = (cell,) if self.plan.attack(cell).model_free else (
                cell.target, cell.control, cell.dataset, cell.defense, cell.seed)
            groups.setdefault(group, []).append(cell)
        return groups

    def _payload(self) -> dict:
        cfg = self.config
        return {"plugins": self.plan.plugins.refs(),
                # absolute: a worker's working directory need not be ours
                "out_dir": str(Path(cfg.out_dir).resolve()), "cache_root": str(cfg.cache.root.resolve()),
                "n_boot": cfg.n_boot, "folds": cfg.folds, "rerun": cfg.rerun}

    def run_group(self, cells: list[Cell]) -> RunSummary:
        """Run these cells here, one by one; a failing cell is recorded and the rest go on."""
        summary = RunSummary()
        bar = _progress(cells, self.config.progress)
        for cell in bar:
            attack = self.plan.attack(cell)
            if hasattr(bar, "set_description"):
                bar.set_description(f"{cell.attack.name} on {cell.target_label} [{cell.unit}]")
            try:
                self._run_cell(cell, attack)
                summary.finished.append(cell.key)
            except Exception as exc:  # recorded, and the run goes on
                log.warning("cell %s failed: %s", cell.to_dict(), exc)
                summary.errors[cell.key] = f"{type(exc).__name__}: {exc}"
                write_cell(self.config.out_dir, self._error_record(cell, attack, exc))
        return summary

    def context_for(self, cell: Cell, split: MembershipSplit, attack: Attack | None = None) -> AttackContext:
        """The context an attack gets in this cell (its named random stream, aux data, cache).

        The stream follows the run seed and the attack's resolved configuration only, never
        the rest of the cell: one attack configuration draws the same numbers on the target,
        its null control and every defense of a seed (common random numbers), and scores the
        same in every table that runs it, however its spec is spelled."""
        builder = self.plan.targets[cell.target].component
        stream = np.random.default_rng([cell.seed, attack_stream(attack or self.plan.attack(cell))])
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

    def _run_cell(self, cell: Cell, attack: Attack) -> None:
        split = self.split(cell)
        challenge, labels = split.challenge(cell.unit)
        challenge = strip_challenge(challenge, attack)
        attack.check_auxiliary(split.auxiliary)  # before the target is built: fail before any model loads
        target, inner = None, None
        if not attack.model_free:
            inner = self.target(cell)
            target = MeteredTarget(inner, attack.name, allow_media=attack.sends_biometrics())
            if inner.fingerprint not in self._utility and ("image" in inner.capabilities or "audio" in inner.capabilities):
                from .utility import utility_metrics

                self._utility[inner.fingerprint] = utility_metrics(inner, split)
        context = self.context_for(cell, split)
        output, seconds, counts = self._attack_output(cell, attack, split, target, inner, challenge, labels, context)
        report = metrics.evaluate(output.scores, labels, output.decisions, n_boot=self.config.n_boot, seed=cell.seed,
                                  groups=row_groups(challenge))
        record = self._record(cell, attack, split, target, output, report, seconds, counts)
        arrays = {**output_cache.output_arrays(output), "labels": labels, "ids": np.array(challenge.samples.ids),
                  "groups": row_groups(challenge)}  # the identity of each row: the leaderboard resamples by it
        write_cell(self.config.out_dir, record, arrays)

    def _attack_output(self, cell, attack, split, target, inner, challenge, labels, context):
        """``(output, seconds, target query counts)``: from the output cache when this exact
        attack, code, target and split have run before (not with ``--rerun``), else computed
        and cached. ``seconds`` is always the computation's own time."""
        def compute():
            t0 = time.perf_counter()
            if attack.supervised:
                out = cross_fit(attack, target, challenge, labels, context, self.config.folds)
            else:
                out = attack.run(target, challenge, context)
            seconds = time.perf_counter() - t0
            return (out.validated(len(challenge), attack.name), seconds,
                    dict(target.counts) if isinstance(target, MeteredTarget) else {})

        if self.config.rerun:
            return compute()
        key = output_cache.output_key(cell.key, attack, inner, split.fingerprint(), self.config.folds)
        computed: list = []

        def build(work: Path) -> dict:
            computed.append(compute())
            output_cache.store(work, *computed[0])
            return {"attack": attack.name, "cell": cell.key}

        entry = self.config.cache.get_or_build(output_cache.KIND, key, build)
        if computed:
            return computed[0]
        output, seconds, counts = output_cache.load(entry)
        return output.validated(len(challenge), attack.name), seconds, counts

    def _record(self, cell, attack, split, target, output, report, seconds, counts) -> CellRecord:
        resolved = self.plan.attacks[cell.attack]
        n = len(output.scores)
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
            environment=self.environment(),
        )

    def _error_record(self, cell: Cell, attack: Attack, exc: BaseException) -> CellRecord:
        return CellRecord(
            key=cell.key,
            status="error",
            cell=cell.spec(),
            attack=AttackInfo(attack.name, attack.version),
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc)),
            environment=self.environment(),
            threat_model=threat_model(attack),  # declared, so the failure is filed where the attack belongs
        )


def attack_stream(attack: Attack) -> int:
    """The 32-bit stream id of an attack configuration: its name and resolved options."""
    options = attack.options.model_dump() if attack.options is not None else {}
    return int(stable_hash({"attack": attack.name, "options": options}, 8), 16)


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


# --- what a worker process runs ------------------------------------------------------
def run_cell_group(payload: dict) -> RunSummary:
    """One task on a process or Ray worker: resolve exactly the given cells with the driver's
    plugins and run them here, serially, writing their records into the run's folder."""
    from .plugins import Plugins

    cells: list[Cell] = payload["cells"]
    plan = plan_from_cells([c.spec() for c in cells], Plugins.from_refs(payload["plugins"]))
    if [c.key for c in plan.cells] != [c.key for c in cells]:
        raise MiaBenchError(f"a worker resolved cells {[c.key for c in plan.cells]} where the driver sent "
                            f"{[c.key for c in cells]}: its plugins or versions differ from the driver's")
    config = RunConfig(Path(payload["out_dir"]), Cache(payload["cache_root"]), n_boot=payload["n_boot"],
                       folds=payload["folds"], rerun=payload.get("rerun", False),
                       progress=False)  # serial inside a task: no nested pools
    return Runner(plan, config).run_group(plan.cells)
