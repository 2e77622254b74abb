"""The runner: execute a validated plan cell by cell. No attack-specific code lives here.

For each cell: skip it if its result is on disk (resume), else load the split, build
(or fetch from the cache) the target, hand the attack only what its threat model
grants, score, evaluate, and write the record atomically. A failing cell is recorded as
an error and the run goes on; a re-run retries it.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .attack import Attack, AttackContext, AttackOutput
from .cache import Cache, stable_hash
from .data import Challenge, MembershipSplit, Samples
from .plan import Cell, Plan
from .results import environment, read_cell, write_cell
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
        summary = RunSummary()
        start = time.perf_counter()
        cells = self.plan.cells
        bar = _progress(cells, self.config.progress)
        for cell in bar:
            attack = self.plan.attack(cell)
            key = cell.key(attack.version)
            if hasattr(bar, "set_description"):
                bar.set_description(f"{cell.attack.name} on {cell.target_label} [{cell.unit}]")
            if not self.config.rerun and read_cell(self.config.out_dir, key) is not None:
                summary.resumed.append(key)
                continue
            try:
                self._run_cell(cell, attack, key)
                summary.finished.append(key)
            except Exception as exc:  # recorded, and the run goes on
                log.warning("cell %s failed: %s", cell.to_dict(), exc)
                summary.errors[key] = f"{type(exc).__name__}: {exc}"
                write_cell(self.config.out_dir, key, self._error_record(cell, attack, key, exc))
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
        )

    def _run_cell(self, cell: Cell, attack: Attack, key: str) -> None:
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
        record = self._record(cell, attack, key, split, target, output, report, seconds)
        arrays = {"scores": output.scores, "labels": labels, "ids": np.array(challenge.samples.ids)}
        if output.decisions is not None:
            arrays["decisions"] = output.decisions
        arrays.update({f"feature_{k}": np.asarray(v) for k, v in output.features.items()})
        write_cell(self.config.out_dir, key, record, arrays)

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

    def _record(self, cell, attack, key, split, target, output, report, seconds) -> dict:
        resolved = self.plan.attacks[cell.attack]
        n = len(output.scores)
        counts = dict(target.counts) if isinstance(target, MeteredTarget) else {}
        return {
            "status": "ok",
            "key": key,
            "cell": cell.to_dict(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "attack": {
                "name": attack.name,
                "version": attack.version,
                "plugin": resolved.plugin,
                "options": attack.options.model_dump() if attack.options is not None else {},
            },
            "target": None if target is None else {
                "name": target.name,
                "label": cell.target_label,
                "fingerprint": target.fingerprint,
                "info": target.info,
                "utility": self._utility.get(target.fingerprint, {}),
            },
            "target_label": cell.target_label,
            "split": {
                "fingerprint": split.fingerprint(),
                "dataset": split.dataset,
                "modality": split.world.modality,
                "unit": cell.unit,
                "n_members": int(report.n_members),
                "n_nonmembers": int(report.n_nonmembers),
                "config": split.config,
            },
            "threat_model": {
                "biometric_data_sent": attack.sends_biometrics(),
                "inputs": sorted(attack.inputs),
                "requires": [] if attack.model_free else sorted(attack.requires),
                "model_free": attack.model_free,
                "supervised": attack.supervised,
            },
            "metrics": report.to_dict(),
            "cost": {
                "seconds": seconds,
                # an attack that reuses cached work reports what the audit really costs
                "seconds_per_query": float(output.info.get("audit_seconds", seconds)) / max(n, 1),
                "target_queries": counts,
                "target_queries_total": sum(counts.values()),
                "shadow_models_trained": int(output.info.get("shadow_models_trained", 0)),
            },
            "info": output.info,
            "environment": environment(),
        }

    def _error_record(self, cell: Cell, attack: Attack, key: str, exc: BaseException) -> dict:
        return {
            "status": "error",
            "key": key,
            "cell": cell.to_dict(),
            "target_label": cell.target_label,
            "attack": {"name": attack.name, "version": attack.version},
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
            "environment": environment(),
        }


def _progress(cells: list[Cell], enabled: bool):
    if not enabled:
        return cells
    from tqdm.auto import tqdm

    return tqdm(cells, unit="cell", dynamic_ncols=True)
