"""Privacy-utility pages of a defense sweep: each defense setting's utility against the AUC
of the suite's attacks, and the frontier (the settings no other setting beats on both).

Rows come from :func:`mia_bench.privacy_utility.collect`, the same rows as the
``privacy-utility`` report. A setting *dominates* another when its utility is at least as
high and its attack AUC at least as low, one of them strictly; the frontier is the set of
undominated settings. Per defense setting the worst case over attacks is used: a defense
protects only as well as against the strongest attack run on it.
"""

from __future__ import annotations

from pathlib import Path

from ..leaderboard import defense_label
from ..privacy_utility import UTILITY_KEYS, collect
from ..records import CellRecord


def utility_key(rows: list[dict]) -> str | None:
    """The first utility measure every defense setting reports (zero-shot id when there is a text encoder)."""
    for key in UTILITY_KEYS:
        if rows and all(r[key] is not None for r in rows):
            return key
    return next((k for k in UTILITY_KEYS if any(r[k] is not None for r in rows)), None)


def undominated(points: list[dict], utility: str) -> list[bool]:
    flags = []
    for p in points:
        dominated = any(q is not p and q[utility] >= p[utility] and q["auc"] <= p["auc"]
                        and (q[utility] > p[utility] or q["auc"] < p["auc"]) for q in points)
        flags.append(not dominated)
    return flags


def worst_case_points(rows: list[dict], utility: str) -> list[dict]:
    """One point per defense setting: its utility and its strongest attack."""
    points = []
    for defense in sorted({r["defense"] for r in rows}):
        mine = [r for r in rows if r["defense"] == defense and r[utility] is not None]
        if not mine:
            continue
        worst = max(mine, key=lambda r: r["auc"])
        points.append({"defense": defense, "label": "none" if defense == "none" else defense_label(defense),
                       utility: worst[utility], "auc": worst["auc"], "auc_ci": worst["auc_ci"],
                       "attack": f"{worst['attack']} ({worst['unit']})"})
    for p, flag in zip(points, undominated(points, utility)):
        p["frontier"] = flag
    return points


def mark_attack_frontiers(rows: list[dict], utility: str) -> None:
    """``row['frontier']``: the setting is undominated among this attack's (and unit's) settings."""
    for attack, unit in {(r["attack"], r["unit"]) for r in rows}:
        mine = [r for r in rows if r["attack"] == attack and r["unit"] == unit and r[utility] is not None]
        for r, flag in zip(mine, undominated(mine, utility)):
            r["frontier"] = flag


def privacy_utility(records: list[CellRecord], out_dir: Path | None = None) -> dict | None:
    """What the privacy-utility page shows (aggregated over seeds from the scores in ``out_dir``);
    None when the records hold fewer than two defense settings."""
    rows = collect(records, out_dir)
    if len({r["defense"] for r in rows}) < 2:
        return None
    utility = utility_key(rows)
    if utility is None:
        return {"rows": rows, "utility": None, "points": []}
    mark_attack_frontiers(rows, utility)
    return {"rows": rows, "utility": utility, "points": worst_case_points(rows, utility)}
