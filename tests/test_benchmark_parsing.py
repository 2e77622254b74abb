"""The suite-time benchmark reads GNU time's report correctly (its README table depends on it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("suite_time", ROOT / "benchmarks" / "suite_time.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_time_v_report_is_parsed():
    report = ("\tCommand being timed: \"mia-bench run\"\n\tUser time (seconds): 809.18\n\tSystem time (seconds): 69.45\n"
              "\tPercent of CPU this job got: 173%\n\tElapsed (wall clock) time (h:mm:ss or m:ss): 8:26.72\n"
              "\tMaximum resident set size (kbytes): 2068492\n")
    facts = _module().parse_time_v(report)
    assert abs(facts["wall_s"] - 506.72) < 1e-6 and facts["peak_kb"] == 2068492 and facts["cpu_percent"] == 173
    hours = _module().parse_time_v("\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02:03\n")
    assert hours["wall_s"] == 3723
