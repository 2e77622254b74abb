"""What a page shows about a row beyond the leaderboard's :class:`~mia_bench.leaderboard.Row`:
the realised operating point behind each low-FPR number, the margins over the controls,
and the flags a reader must not miss.

What the site *reports* (the index's best attacks, control counts and flags) comes from
the rows aggregated over seeds, as on the folder's leaderboard: a per-seed 95% interval
excludes 0.5 on one control seed in twenty by chance, so flagging per seed would raise
false alarms that grow with the number of seeds. Over seeds:

- a row *clears* its null control when the paired 95% interval of its margin over the
  control lies above 0;
- a control is *off chance* when its interval excludes 0.5, and an attack is *inverted*
  when its interval lies wholly below 0.5 (:func:`mia_bench.aggregate.row_flags`).

Per seed (the per-seed tables and entry pages), for a reader who wants each seed:

- a row clears a control when its AUC interval lies wholly above the control's (the two
  95% intervals are disjoint), from the records' own intervals;
- the blind baseline of a row is the strongest model-free row of its seed;
- a control whose interval excludes 0.5 is marked *off chance (this seed)*, a row whose
  interval lies below 0.5 *inverted (this seed)*: marks to look at, not verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..aggregate import FLAG_INVERTED, FLAG_OFF_CHANCE, AggRow
from ..leaderboard import defense_label
from ..metrics import roc_curve
from ..records import CellRecord
from ..tracks import Row, Track
from .sources import Source, slug

LOW_FPRS = (0.01, 0.001)
SEED_OFF_CHANCE = "off chance (this seed)"
SEED_INVERTED = "inverted (this seed)"


@dataclass(frozen=True)
class OperatingPoint:
    """The ROC point behind "TPR at FPR <= target": realised FPR and the threshold
    (member iff score >= threshold; None when the point calls nobody a member)."""

    target_fpr: float
    tpr: float
    fpr: float
    threshold: float | None


def operating_point(scores: np.ndarray, labels: np.ndarray, target_fpr: float) -> OperatingPoint | None:
    """The lowest-FPR point reaching the largest TPR at FPR <= ``target_fpr`` (the metric's
    definition); None when not resolvable (fewer than 1/target_fpr non-members)."""
    labels = labels.astype(bool)
    if (~labels).sum() < 1.0 / target_fpr - 1e-9:
        return None
    fpr, tpr, thr = roc_curve(scores, labels)
    ok = np.nonzero(fpr <= target_fpr + 1e-12)[0]
    best = ok[np.argmax(tpr[ok])]  # argmax: the first, i.e. lowest-FPR, point with that TPR
    return OperatingPoint(target_fpr, float(tpr[best]), float(fpr[best]),
                          None if np.isinf(thr[best]) else float(thr[best]))


def roc_sketch(scores: np.ndarray, labels: np.ndarray, points: int = 40) -> list[list[float]]:
    """A few (FPR, TPR) points on a log FPR grid, for the compare view's overlay: enough for
    the eye, small enough to inline for every row."""
    labels = labels.astype(bool)
    fpr, tpr, _ = roc_curve(scores, labels)
    floor = 0.5 / (~labels).sum()
    grid = np.logspace(np.log10(floor), 0, points)
    idx = np.searchsorted(fpr, grid, side="right") - 1  # last ROC point at FPR <= grid value
    return [[round(float(g), 5), round(max(float(tpr[i]), 0.5 / labels.sum()), 5)] for g, i in zip(grid, idx)]


@dataclass
class RowView:
    row: Row
    record: CellRecord
    source: str
    scores: dict[str, np.ndarray] | None = None
    ops: dict[float, OperatingPoint | None] = field(default_factory=dict)
    null: RowView | None = None
    blind: RowView | None = None

    # --- what the row is -----------------------------------------------------------
    @property
    def key(self) -> str:
        return self.row.key

    @property
    def kind(self) -> str:
        return "blind" if self.row.model_free else ("null" if self.row.control else "attack")

    @property
    def is_control(self) -> bool:
        return self.kind != "attack"

    @property
    def ok(self) -> bool:
        return self.row.error is None and self.row.auc is not None

    @property
    def label(self) -> str:
        r = self.row
        parts = [r.attack, "on", r.target]
        if r.defense != "none":
            parts.append(f"[{defense_label(r.defense)}]")
        return " ".join(parts) + f" (seed {r.seed})"

    @property
    def entry_path(self) -> str:
        """Relative to the site root."""
        return f"{slug(self.source)}/entries/{self.key}.html"

    @property
    def scores_path(self) -> str:
        return f"{slug(self.source)}/entries/{self.key}-scores.csv.gz"

    @property
    def sent(self) -> str:
        """What the audit sent to the model, with counts: ``text x200, image x600``."""
        rec = self.record
        if rec.cost is None or rec.threat_model is None:
            return "unknown (the cell failed)"
        if rec.threat_model.model_free:
            return "nothing (model-free)"
        counts = {k: v for k, v in rec.cost.target_queries.items() if v}
        if not counts:
            return ", ".join(rec.threat_model.inputs) or "nothing"
        return ", ".join(f"{k.replace('_', ' ')} \u00d7{v}" for k, v in counts.items())

    # --- margins and flags ---------------------------------------------------------------
    @property
    def auc(self) -> float:
        """The row's AUC; only for rows that are :attr:`ok` (which have one)."""
        assert self.row.auc is not None, f"{self.key}: no AUC (check .ok first)"
        return self.row.auc

    @property
    def auc_ci(self) -> tuple:
        """The row's AUC interval; only for rows that are :attr:`ok` (which have one)."""
        assert self.row.auc_ci is not None, f"{self.key}: no AUC interval (check .ok first)"
        return self.row.auc_ci

    def margin(self, other: RowView | None) -> float | None:
        if other is None or not (self.ok and other.ok):
            return None
        return self.auc - other.auc

    def clears(self, other: RowView | None) -> bool | None:
        if other is None or not (self.ok and other.ok):
            return None
        return self.auc_ci[0] > other.auc_ci[1]

    @property
    def failing_control(self) -> bool:
        if not (self.is_control and self.ok):
            return False
        lo, hi = self.auc_ci
        return lo > 0.5 or hi < 0.5

    @property
    def inverted(self) -> bool:
        return self.ok and not self.is_control and self.auc_ci[1] < 0.5

    @property
    def flags(self) -> list[str]:
        out = []
        if self.row.error:
            out.append("error")
        if self.failing_control:
            out.append(SEED_OFF_CHANCE)
        if self.inverted:
            out.append(SEED_INVERTED)
        return out

    def compare_json(self) -> dict:
        """The row's numbers for the compare view (inline JSON on the track page)."""
        r = self.row
        d = {"label": self.label, "kind": self.kind, "auc": r.auc, "auc_ci": list(r.auc_ci or ()),
             "tpr_1": r.tpr_1, "tpr_01": r.tpr_01, "acc": r.decision_accuracy if r.decision_accuracy is not None
             else r.accuracy, "seconds_per_query": r.seconds_per_query, "wall_seconds": r.wall_seconds,
             "queries": r.queries, "shadows": r.shadow_models, "biometric": r.biometric, "sent": self.sent,
             "margin_null": self.margin(self.null), "margin_blind": self.margin(self.blind), "error": r.error}
        for a, op in self.ops.items():
            d[f"fpr_at_{a}"] = op.fpr if op else None
        if self.scores is not None and self.ok:
            d["roc"] = roc_sketch(self.scores["scores"], self.scores["labels"])
        return d


@dataclass
class TrackView:
    track: Track
    source: Source
    rows: list[RowView]
    agg: list[AggRow] = field(default_factory=list)  # the track's rows over all seeds

    @property
    def slug(self) -> str:
        return slug(self.track.key)

    @property
    def page(self) -> str:
        return f"{self.source.slug}/{self.slug}.html"

    @property
    def agg_attacks(self) -> list[AggRow]:
        return [r for r in self.agg if not (r.control or r.model_free) and r.auc is not None]

    @property
    def threat(self) -> str:
        return self.track.key.rsplit("|", 1)[-1]

    @property
    def audio(self) -> bool:
        return any(v.record.split is not None and v.record.split.modality == "audio" for v in self.rows)

    @property
    def seeds(self) -> list[int]:
        return sorted({v.row.seed for v in self.rows})

    @property
    def best_auc(self) -> AggRow | None:
        """The attack with the best AUC over seeds (controls never count)."""
        return max(self.agg_attacks, key=lambda r: r.auc or 0.0, default=None)

    @property
    def best_low_fpr(self) -> AggRow | None:
        """Best pooled TPR at 0.1% FPR (ties: higher AUC); None when no row resolves it."""
        resolved = [r for r in self.agg_attacks if r.tpr_01 is not None]
        return max(resolved, key=lambda r: (r.tpr_01, r.auc), default=None)

    @property
    def best_1(self) -> AggRow | None:
        """Best pooled TPR at 1% FPR (ties: higher AUC), the fallback where 0.1% is not resolvable."""
        resolved = [r for r in self.agg_attacks if r.tpr_1 is not None]
        return max(resolved, key=lambda r: (r.tpr_1, r.auc), default=None)

    @property
    def pooled_nonmembers(self) -> int:
        """Non-members pooled over the seeds (what resolves a low FPR over seeds)."""
        per_seed: dict[int, int] = {}
        for v in self.rows:
            if v.record.split is not None:
                per_seed[v.row.seed] = max(per_seed.get(v.row.seed, 0), v.record.split.n_nonmembers)
        return sum(per_seed.values())

    @property
    def control_summary(self) -> dict[str, int]:
        att = self.agg_attacks
        return {"n_clear": sum(r.margin_null_ci is not None and r.margin_null_ci[0] > 0 for r in att),
                "n_within": sum(r.margin_null_ci is not None and r.margin_null_ci[0] <= 0 for r in att),
                "n_no_null": sum(r.margin_null_ci is None for r in att),
                "n_failing": sum(FLAG_OFF_CHANCE in r.flags for r in self.agg),
                "n_inverted": sum(FLAG_INVERTED in r.flags for r in self.agg),
                "n_errors": sum(v.row.error is not None for v in self.rows)}


def _null_of(view: RowView, rows: list[RowView]) -> RowView | None:
    r = view.row
    for other in rows:
        o = other.row
        if (other.kind == "null" and o.attack == r.attack and o.defense == r.defense and o.seed == r.seed
                and o.target == f"{r.target} (null)"):
            return other
    return None


def _blind_of(view: RowView, rows: list[RowView]) -> RowView | None:
    blind = [v for v in rows if v.kind == "blind" and v.ok]
    same_seed = [v for v in blind if v.row.seed == view.row.seed] or blind
    return max(same_seed, key=lambda v: v.auc, default=None)


def track_views(source: Source, load_scores) -> list[TrackView]:
    """Views of a source's tracks; ``load_scores(key)`` gives a cell's score arrays."""
    records = source.record_by_key
    cache: dict[str, dict] = {}
    views = []
    for track in source.tracks:
        rows = []
        for row in track.rows:
            view = RowView(row, records[row.key], source.name)
            if view.ok:
                if row.key not in cache:
                    cache[row.key] = load_scores(row.key)
                view.scores = cache[row.key]
                view.ops = {a: operating_point(view.scores["scores"], view.scores["labels"], a) for a in LOW_FPRS}
            rows.append(view)
        for view in rows:
            if view.kind == "attack":
                view.null, view.blind = _null_of(view, rows), _blind_of(view, rows)
            elif view.kind == "null":
                view.blind = _blind_of(view, rows)
        agg = next((t.rows for t in source.agg_tracks if t.key == track.key), [])
        views.append(TrackView(track, source, rows, [r for r in agg if isinstance(r, AggRow)]))
    return views
