"""Reports: components that turn a results folder's records into tables and plots.

A report is registered like any component (``register_reports``) and run by
``mia-bench report NAME --out DIR`` on the records of ``DIR`` (a run of any suite, e.g. a
sweep written as a suite file). It reads records, never re-runs cells, and writes its
files under ``DIR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .records import CellRecord


class Report:
    name: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type["BaseModel"] | None] = None

    def __init__(self, options: "BaseModel | None" = None):
        self.options = options if options is not None or self.Options is None else self.Options()

    def write(self, records: list["CellRecord"], out_dir: Path) -> list[Path]:
        """Write the report's files under ``out_dir``; return their paths."""
        raise NotImplementedError


class PrivacyUtilityReport(Report):
    name = "privacy-utility"
    description = "Each attack's AUC and TPR at low FPR next to the target's utility, per defense (table and plot)."

    def write(self, records, out_dir):
        from .privacy_utility import write_report

        write_report(Path(out_dir), records)
        return [Path(out_dir) / "privacy_utility.md", Path(out_dir) / "privacy_utility.json"]
