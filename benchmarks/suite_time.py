"""Wall time and peak memory of a whole suite, cold and warm, as a new user would see them.

    HF_HUB_OFFLINE=1 python benchmarks/suite_time.py [--suite quick] [--seeds 0,1,2]

Cold: ``mia-bench run --suite SUITE`` under ``/usr/bin/time -v`` with an empty cache and an
empty results folder (world generation, every target, null target and shadow model trained).
Warm: the same command into a second empty results folder with the now-filled cache (nothing
may train). Writes leaderboards/benchmarks/suite_time.{json,md}, one entry per suite (other
suites' entries are kept). Not a test: run it on an otherwise idle machine; the load average
at start and end is recorded so a loaded run shows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIELDS = {"Elapsed (wall clock) time": "wall", "Maximum resident set size (kbytes)": "peak_kb",
          "User time (seconds)": "user_s", "System time (seconds)": "system_s",
          "Percent of CPU this job got": "cpu_percent"}


def parse_time_v(text: str) -> dict:
    """The fields of GNU time's ``-v`` report that this benchmark keeps."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.strip().rpartition(": ")  # the wall-time key itself holds "h:mm:ss"
        name = next((FIELDS[k] for k in FIELDS if key.startswith(k)), None)
        if name:
            out[name] = value.strip()
    if "wall" in out:  # h:mm:ss or m:ss.ss
        parts = [float(p) for p in out["wall"].split(":")]
        out["wall_s"] = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    for k in ("peak_kb", "user_s", "system_s"):
        if k in out:
            out[k] = float(out[k])
    if "cpu_percent" in out:
        out["cpu_percent"] = float(out["cpu_percent"].rstrip("%"))
    return out


def timed_run(args: list[str], env: dict) -> dict:
    proc = subprocess.run(["/usr/bin/time", "-v", *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{' '.join(args)} exited {proc.returncode}")
    return parse_time_v(proc.stderr)


def trained_models(cache: Path) -> int:
    """Trained models in the cache (targets and shadows): a warm run must not add any."""
    return sum(1 for kind in ("targets", "shadows") if (cache / kind).is_dir() for _ in (cache / kind).iterdir())


def seeds_run(cells: Path) -> list[str]:
    """The run seeds of the cells a run wrote (the suite's own when no --seed was given)."""
    return sorted({str(json.loads(p.read_text())["cell"]["seed"]) for p in cells.glob("*.json")}, key=int)


def cpu_description() -> str:
    """The CPU's model and its widest vector extension: two machines that both call themselves
    "AMD EPYC" ran this suite 1.6x apart (the README's speed section)."""
    from mia_bench.results import cpu_model, cpu_simd

    simd = cpu_simd()
    return (cpu_model() or "unknown CPU") + (f" ({simd})" if simd else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", default="quick")
    ap.add_argument("--seeds", default=None, help="comma-separated run seeds (default: the suite's)")
    ap.add_argument("--out", type=Path, default=Path("leaderboards/benchmarks"))
    args = ap.parse_args()
    seeds = [s for s in (args.seeds or "").split(",") if s]
    cmd = ["mia-bench", "run", "--suite", args.suite, "--no-progress", *[a for s in seeds for a in ("--seed", s)]]
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "MIA_BENCH_CACHE": str(Path(tmp) / "cache")}
        print(f"[suite_time] cold: {' '.join(cmd)} (empty cache)", file=sys.stderr, flush=True)
        cold = timed_run([*cmd, "--out", str(Path(tmp) / "cold")], env)
        cold["cells"] = len(list((Path(tmp) / "cold" / "cells").glob("*.json")))
        ran = seeds_run(Path(tmp) / "cold" / "cells")
        print("[suite_time] warm: the same into a fresh folder", file=sys.stderr, flush=True)
        before = trained_models(Path(tmp) / "cache")
        warm = timed_run([*cmd, "--out", str(Path(tmp) / "warm")], env)
        warm["cells"] = len(list((Path(tmp) / "warm" / "cells").glob("*.json")))
        cold["models_trained"] = before
        warm["models_trained"] = trained_models(Path(tmp) / "cache") - before
    from mia_bench.results import environment

    entry = {"suite": args.suite, "seeds": ran, "seeds_given": bool(seeds), "command": " ".join(cmd),
             "cold": cold, "warm": warm, "cpu_count": os.cpu_count(),
             "cpu": cpu_description(), "git_revision": environment()["git_revision"],
             "date": time.strftime("%Y-%m-%d"), "load_average_1min": [load_start, os.getloadavg()[0]]}
    path = args.out / "suite_time.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[args.suite] = entry
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    (args.out / "suite_time.md").write_text(to_markdown(data))
    print(to_markdown(data))


def to_markdown(data: dict) -> str:
    lines = ["# Suite wall time, cold and warm", "",
             "`python benchmarks/suite_time.py --suite SUITE`: `mia-bench run` under `/usr/bin/time -v`, first with an "
             "empty cache (everything trained), then again into a fresh results folder with the filled cache.", "",
             "| suite | seeds | cells | cold wall | cold peak memory | models trained cold | warm wall | models trained warm "
             "| cores | CPU | load avg (start, end) | git | date |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in data.values():
        c, w = e["cold"], e["warm"]
        seeds = e["seeds"] if isinstance(e["seeds"], str) else ", ".join(e["seeds"])
        seeds += "" if e.get("seeds_given", True) else " (the suite's)"
        lines.append(f"| {e['suite']} | {seeds} | {c['cells']} | {_mmss(c['wall_s'])} | {c['peak_kb'] / 1024 ** 2:.1f} GB "
                     f"| {c['models_trained']} | {_mmss(w['wall_s'])} | {w['models_trained']} | {e['cpu_count']} "
                     f"| {e.get('cpu', 'not recorded')} "
                     f"| {e['load_average_1min'][0]:.1f}, {e['load_average_1min'][1]:.1f} | {e['git_revision']} "
                     f"| {e['date']} |")
    return "\n".join(lines) + "\n"


def _mmss(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


if __name__ == "__main__":
    main()
