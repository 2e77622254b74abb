"""The rows and tracks a leaderboard is made of (one result, or one aggregate over seeds)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Row:
    key: str
    attack: str
    target: str
    defense: str
    seed: int
    control: bool
    model_free: bool
    biometric: bool
    auc: float | None = None
    auc_ci: tuple | None = None
    tpr_1: float | None = None
    tpr_01: float | None = None
    accuracy: float | None = None
    decision_accuracy: float | None = None
    seconds_per_query: float | None = None
    wall_seconds: float | None = None
    queries: int | None = None
    shadow_models: int = 0
    n: str = ""
    error: str | None = None


@dataclass
class Track:
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. why a target has no null-control row
