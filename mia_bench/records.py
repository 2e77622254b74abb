"""The result record of one cell: one typed, frozen type that owns the result schema.

A results folder holds ``cells/<key>.json`` (a :class:`CellRecord`) and, for finished
cells, ``cells/<key>.npz`` (per-row scores, labels, ids, decisions, features). Records are
validated when read: a file of the wrong shape is reported with its path, never half-used.
:func:`load_records` is the one way to read a results folder; the leaderboard, the
reports and the benchmarks take records, not dicts.

The JSON layout is that of schema 1 (what every committed leaderboard holds), so old
folders load unchanged.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from .errors import MiaBenchError
from .metrics import MetricReport

log = logging.getLogger(__name__)

RESULT_SCHEMA = 1
Status = Literal["ok", "error"]
Threat = Literal["text-only", "biometric", "model-free"]


class RecordError(MiaBenchError):
    """A result file that is not a valid record (truncated, garbage, wrong shape)."""


def _need(d: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(d, dict) or name not in d:
        raise RecordError(f"{where}: missing field {name!r}")
    value = d[name]
    if not isinstance(value, kind):
        raise RecordError(f"{where}: field {name!r} should be {kind}, got {type(value).__name__} {value!r:.60}")
    return value


@dataclass(frozen=True)
class CellSpec:
    """What a cell is, as spec strings: the grid coordinates of one result."""

    attack: str
    target: str
    dataset: str
    defense: str
    seed: int
    unit: str
    control: str = "none"

    def to_json(self) -> dict:
        return {"attack": self.attack, "target": self.target, "control": self.control, "dataset": self.dataset,
                "defense": self.defense, "seed": self.seed, "unit": self.unit}

    @classmethod
    def from_json(cls, d: Any, where: str = "cell") -> CellSpec:
        strs = {k: _need(d, k, str, where) for k in ("attack", "target", "dataset", "defense", "unit")}
        return cls(**strs, seed=_need(d, "seed", int, where), control=str(d.get("control", "none")))

    @property
    def is_control(self) -> bool:
        return self.control == "null"

    @property
    def target_label(self) -> str:
        return self.target + (" (null)" if self.is_control else "")


@dataclass(frozen=True)
class AttackInfo:
    name: str
    version: str
    plugin: str | None = None
    options: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"name": self.name, "version": self.version, "plugin": self.plugin, "options": self.options}

    @classmethod
    def from_json(cls, d: Any, where: str = "attack") -> AttackInfo:
        return cls(_need(d, "name", str, where), str(_need(d, "version", (str, int), where)), d.get("plugin"),
                   dict(d.get("options") or {}))


@dataclass(frozen=True)
class TargetInfo:
    name: str
    label: str
    fingerprint: str
    info: dict = field(default_factory=dict)
    utility: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"name": self.name, "label": self.label, "fingerprint": self.fingerprint, "info": self.info,
                "utility": self.utility}

    @classmethod
    def from_json(cls, d: Any, where: str = "target") -> TargetInfo:
        return cls(_need(d, "name", str, where), str(d.get("label", "")), _need(d, "fingerprint", str, where),
                   dict(d.get("info") or {}), dict(d.get("utility") or {}))


@dataclass(frozen=True)
class SplitInfo:
    fingerprint: str
    dataset: str
    modality: str
    unit: str
    n_members: int
    n_nonmembers: int
    config: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"fingerprint": self.fingerprint, "dataset": self.dataset, "modality": self.modality,
                "unit": self.unit, "n_members": self.n_members, "n_nonmembers": self.n_nonmembers,
                "config": self.config}

    @classmethod
    def from_json(cls, d: Any, where: str = "split") -> SplitInfo:
        return cls(_need(d, "fingerprint", str, where), _need(d, "dataset", str, where),
                   _need(d, "modality", str, where), _need(d, "unit", str, where),
                   _need(d, "n_members", int, where), _need(d, "n_nonmembers", int, where),
                   dict(d.get("config") or {}))


@dataclass(frozen=True)
class ThreatModel:
    """What the attack sent and needed: the leaderboard files rows by it."""

    biometric_data_sent: bool
    inputs: tuple[str, ...]
    requires: tuple[str, ...]
    model_free: bool
    supervised: bool

    def to_json(self) -> dict:
        return {"biometric_data_sent": self.biometric_data_sent, "inputs": list(self.inputs),
                "requires": list(self.requires), "model_free": self.model_free, "supervised": self.supervised}

    @classmethod
    def from_json(cls, d: Any, where: str = "threat_model") -> ThreatModel:
        return cls(_need(d, "biometric_data_sent", bool, where), tuple(_need(d, "inputs", list, where)),
                   tuple(_need(d, "requires", list, where)), _need(d, "model_free", bool, where),
                   bool(d.get("supervised", False)))

    @property
    def threat(self) -> Threat:
        if self.model_free:
            return "model-free"
        return "biometric" if self.biometric_data_sent else "text-only"


@dataclass(frozen=True)
class Cost:
    seconds: float
    seconds_per_query: float
    target_queries: dict = field(default_factory=dict)
    target_queries_total: int = 0
    shadow_models_trained: int = 0

    def to_json(self) -> dict:
        return {"seconds": self.seconds, "seconds_per_query": self.seconds_per_query,
                "target_queries": self.target_queries, "target_queries_total": self.target_queries_total,
                "shadow_models_trained": self.shadow_models_trained}

    @classmethod
    def from_json(cls, d: Any, where: str = "cost") -> Cost:
        return cls(float(_need(d, "seconds", (int, float), where)),
                   float(_need(d, "seconds_per_query", (int, float), where)), dict(d.get("target_queries") or {}),
                   int(d.get("target_queries_total", 0)), int(d.get("shadow_models_trained", 0)))


def _metrics_from_json(d: Any, where: str = "metrics") -> MetricReport:
    if not isinstance(d, dict):
        raise RecordError(f"{where}: should be an object, got {type(d).__name__}")
    try:
        return MetricReport.from_dict(d)
    except TypeError as exc:
        raise RecordError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class CellRecord:
    """One cell's result. ``status == "ok"`` records have every block; error records carry
    the error and traceback, the attack's name and version and (when written by a runner
    that knows it) the attack's declared threat model."""

    key: str
    status: Status
    cell: CellSpec
    attack: AttackInfo
    environment: dict = field(default_factory=dict)
    created: str | None = None
    target: TargetInfo | None = None
    split: SplitInfo | None = None
    threat_model: ThreatModel | None = None
    metrics: MetricReport | None = None
    cost: Cost | None = None
    info: dict = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None

    def __post_init__(self) -> None:
        if self.status == "ok" and (self.split is None or self.threat_model is None or self.metrics is None
                                    or self.cost is None):
            raise RecordError(f"record {self.key}: status 'ok' needs split, threat_model, metrics and cost")

    # --- what readers ask of a record ------------------------------------------------
    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def target_label(self) -> str:
        return self.cell.target_label

    @property
    def threat(self) -> Threat | None:
        return self.threat_model.threat if self.threat_model is not None else None

    @property
    def model_free(self) -> bool:
        return bool(self.threat_model and self.threat_model.model_free)

    # --- JSON ----------------------------------------------------------------------
    def to_json(self) -> dict:
        d: dict[str, Any] = {"schema": RESULT_SCHEMA, "status": self.status, "key": self.key,
                             "cell": self.cell.to_json(), "target_label": self.target_label,
                             "attack": self.attack.to_json(), "environment": self.environment}
        if self.created is not None:
            d["created"] = self.created
        if self.ok:
            assert self.split and self.threat_model and self.metrics and self.cost
            d.update({"target": self.target.to_json() if self.target else None, "split": self.split.to_json(),
                      "threat_model": self.threat_model.to_json(), "metrics": self.metrics.to_dict(),
                      "cost": self.cost.to_json(), "info": self.info})
        else:
            d.update({"error": self.error, "traceback": self.traceback})
            if self.threat_model is not None:  # the attack's declared threat model: files the failure right
                d["threat_model"] = self.threat_model.to_json()
        return d

    @classmethod
    def from_json(cls, d: Any, where: str = "record") -> CellRecord:
        """Validate and build; raise :class:`RecordError` naming ``where`` and the field."""
        if not isinstance(d, dict):
            raise RecordError(f"{where}: a record is a JSON object, got {type(d).__name__}")
        schema = d.get("schema", RESULT_SCHEMA)
        if schema != RESULT_SCHEMA:
            raise RecordError(f"{where}: result schema {schema!r}, this mia-bench reads schema {RESULT_SCHEMA}; "
                              "re-run the cell (--rerun) to rewrite it")
        status = _need(d, "status", str, where)
        if status not in ("ok", "error"):
            raise RecordError(f"{where}: status {status!r}; valid: 'ok', 'error'")
        common = dict(key=_need(d, "key", str, where), cell=CellSpec.from_json(d.get("cell"), f"{where}: cell"),
                      attack=AttackInfo.from_json(d.get("attack"), f"{where}: attack"),
                      environment=dict(d.get("environment") or {}), created=d.get("created"))
        if status == "error":
            tm = d.get("threat_model")
            return cls(status="error", error=str(d.get("error", "error")), traceback=d.get("traceback"), **common,
                       threat_model=None if tm is None else ThreatModel.from_json(tm, f"{where}: threat_model"))
        target = d.get("target")
        return cls(status="ok", **common,
                   target=None if target is None else TargetInfo.from_json(target, f"{where}: target"),
                   split=SplitInfo.from_json(d.get("split"), f"{where}: split"),
                   threat_model=ThreatModel.from_json(d.get("threat_model"), f"{where}: threat_model"),
                   metrics=_metrics_from_json(d.get("metrics"), f"{where}: metrics"),
                   cost=Cost.from_json(d.get("cost"), f"{where}: cost"), info=dict(d.get("info") or {}))


def read_record(path: Path) -> CellRecord:
    """Read and validate one record file; :class:`RecordError` names the path on any damage."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: unreadable result file ({exc})") from None
    return CellRecord.from_json(data, where=str(path))


def load_records(out_dir: Path, plan: Any = None, keys: Iterable[str] | None = None) -> list[CellRecord]:
    """Every valid record of a results folder, sorted by key; only ``plan``'s cells (or
    ``keys``) when given. Damaged files are logged with their path and skipped: a run into
    the folder recomputes them."""
    wanted = set(keys) if keys is not None else None
    if plan is not None:
        wanted = (wanted or set()) | {c.key for c in plan.cells}
    records = []
    for path in sorted((Path(out_dir) / "cells").glob("*.json")):
        if wanted is not None and path.stem not in wanted:
            continue
        try:
            records.append(read_record(path))
        except RecordError as exc:
            log.warning("skipping a damaged result file: %s", exc)
    return records
