"""A wheel built from the tree carries what an installed mia-bench needs to run its suites."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=600)
    if build.returncode != 0 and "No module named" in build.stderr and "setuptools" in build.stderr:
        pytest.skip("setuptools is not installed in this environment: cannot build a wheel offline")
    assert build.returncode == 0, build.stderr
    (path,) = out.glob("mia_bench-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_has_every_suite_and_preset(wheel):
    names = set(wheel.namelist())
    for kind in ("suites", "presets"):
        shipped = {p.name for p in (ROOT / "mia_bench" / "builtin" / kind).glob("*.toml")}
        assert shipped and {f"mia_bench/builtin/{kind}/{n}" for n in shipped} <= names, kind
    assert "mia_bench/builtin/suites/quick.toml" in names
    assert "mia_bench/py.typed" in names
    assert any(n.startswith("mia_bench/site/templates/") for n in names)
    assert any(n.startswith("mia_bench_openclip/model_configs/") and n.endswith(".json") for n in names)


def test_named_suites_load_from_package_data():
    from mia_bench.suites import SUITES_DIR, load_suite, named_suites

    assert SUITES_DIR.is_relative_to(ROOT / "mia_bench")  # inside the package, not beside it
    assert {"quick", "standard", "lira-quick", "quick-audio"} <= set(named_suites())
    suite = load_suite("quick")
    assert suite["name"] == "quick" and Path(suite["path"]).parent == SUITES_DIR
