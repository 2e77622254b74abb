"""`--executor ray --address` against a real cluster: a head and a second node started with
`ray start` on this machine (issue 18, item 8), and an address where nothing listens."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mia_bench.errors import MiaBenchError
from mia_bench.executor import make_executor
from mia_bench.results import load_records, load_scores

TOY = ["-a", "csa", "-a", "blind", "-t", "toy", "-t", "toy?control=null", "-d", "toy"]


def test_unreachable_address_fails_at_once_naming_it():
    pytest.importorskip("ray")
    import ray

    if ray.is_initialized():
        pytest.skip("this process is already connected to Ray")
    t0 = time.perf_counter()
    with pytest.raises(MiaBenchError, match=r"127\.0\.0\.1:1 .*ray start --head --port=1"):
        make_executor("ray", "127.0.0.1:1")
    assert time.perf_counter() - t0 < 30  # not ray.init's minutes of retries


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes() -> dict[int, tuple[int, str]]:
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out[int(pid)] = (ppid, cmd)
    return out


def _stop_cluster(temp_dir: str) -> None:
    """Stop exactly the processes of our cluster (their command lines name our temp dir) and
    their children: never `ray stop`, which would also stop other people's clusters."""
    procs = _processes()
    ours = {p for p, (_, cmd) in procs.items() if temp_dir in cmd and p != os.getpid()}
    while True:
        kids = {p for p, (pp, _) in procs.items() if pp in ours} - ours
        if not kids:
            break
        ours |= kids
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in ours:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 10
        while time.time() < deadline and any(Path(f"/proc/{p}").exists() for p in ours):
            time.sleep(0.2)


@pytest.fixture
def cluster(tmp_path_factory):
    pytest.importorskip("ray")
    ray_bin = Path(sys.executable).parent / "ray"
    if not ray_bin.exists():
        pytest.skip("the `ray` command is not installed next to this Python")
    temp_dir = f"/tmp/mbr{os.getpid()}"  # short: Ray's unix sockets live under it (108-byte limit)
    port = _free_port()
    tests_dir = str(Path(__file__).resolve().parent)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
           "PYTHONPATH": os.pathsep.join(filter(None, [tests_dir, os.environ.get("PYTHONPATH")]))}
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats", f"--temp-dir={temp_dir}"]
    try:
        for extra in (["--head", f"--port={port}", "--include-dashboard=false"], [f"--address=127.0.0.1:{port}"]):
            subprocess.run([str(ray_bin), "start", *extra, *common], env=env, check=True, timeout=180,
                           capture_output=True)
        yield f"127.0.0.1:{port}", env
    finally:
        _stop_cluster(temp_dir)


def _cli(args: list[str], env: dict | None = None):
    from click.testing import CliRunner

    import mia_bench.cli.run_cmds  # noqa: F401  (attaches `run`)
    from mia_bench.cli import cli

    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


@pytest.mark.slow
def test_suite_through_address_gives_the_serial_scores(cluster, tmp_path, monkeypatch):
    from mia_bench import plugins as pl
    from mia_bench.testing import isolated_plugins, toy_plugin

    address, _ = cluster
    import ray

    assert not ray.is_initialized()
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    pl.load_plugins()
    keep = [(name, pl.load_plugins().get_plugin(name)) for name in ("baselines", "defaults")]
    common = [*TOY, "--cache", str(tmp_path / "cache"), "--no-plots", "--no-progress", "--n-boot", "50"]
    with isolated_plugins(toy_plugin, *keep):
        serial = _cli(["run", *common, "--out", str(tmp_path / "serial")])
        assert serial.exit_code == 0, serial.output
        t0 = time.perf_counter()
        fanned = _cli(["run", *common, "--out", str(tmp_path / "ray"), "--executor", "ray", "--address", address])
        assert fanned.exit_code == 0, fanned.output
    print(f"run through {address}: {time.perf_counter() - t0:.1f} s")
    assert not ray.is_initialized()  # the executor disconnected
    want = {r.key: r for r in load_records(tmp_path / "serial")}
    got = {r.key: r for r in load_records(tmp_path / "ray")}
    assert got.keys() == want.keys() and len(got) >= 4 and all(r.ok for r in got.values())
    for key in want:
        a, b = load_scores(tmp_path / "serial", key), load_scores(tmp_path / "ray", key)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        assert got[key].metrics.auc == want[key].metrics.auc
