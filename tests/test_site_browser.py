"""The static site in a real browser: headless Chromium (Debian's chromium + chromium-driver,
driven by selenium) opens the index and a track page from file://, and the test checks what
a reader sees: a non-blank page, the tables with their rows, sorting on a header click, the
figures drawn, the compare view filled, and no console errors.

Nothing is downloaded: the driver and browser are the system's (/usr/bin), and
selenium-manager is kept offline. Skipped with the reason where they are absent, unless
MIA_BENCH_REQUIRE_BROWSER=1 (CI sets it), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000")


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is absent (apt-get install chromium chromium-driver; Debian package {pkg})"
    return None


@pytest.fixture(scope="module")
def driver():
    reason = _missing()
    if reason:
        if os.environ.get("MIA_BENCH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"MIA_BENCH_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    os.environ["SE_OFFLINE"] = "true"  # selenium-manager must never fetch a browser or driver
    os.environ["SE_AVOID_STATS"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="mia-bench-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from test_site import make_results  # the toy results folder of the structure tests

    from mia_bench.site import build_site

    root = tmp_path_factory.mktemp("browser")
    make_results(root / "runs" / "toy", root / "cache")
    build_site(root / "site", [root / "runs" / "toy"])
    return root / "site"


def _severe(drv) -> list[dict]:
    return [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]


def _not_blank(png: Path) -> None:
    from PIL import Image

    img = Image.open(png).convert("L")
    lo, hi = img.getextrema()
    assert img.size[0] > 500 and hi - lo > 100, f"{png} looks blank (grey levels {lo}-{hi})"
    assert len(img.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 20, f"{png}: almost no distinct shades"


def _open(drv, path: Path, shot: Path) -> None:
    drv.get(path.resolve().as_uri())
    drv.save_screenshot(str(shot))
    _not_blank(shot)
    assert not _severe(drv), _severe(drv)


def test_index_renders_every_track(driver, site, tmp_path):
    from selenium.webdriver.common.by import By

    from mia_bench.leaderboard import build_tracks
    from mia_bench.results import load_records

    _open(driver, site / "index.html", tmp_path / "index.png")
    pages = sorted(p for p in (site / "toy").glob("*.html"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#tracks tbody tr")
    assert len(rows) == len(pages) == len(build_tracks(load_records(site.parent / "runs" / "toy"))) >= 2
    assert "best at 0.1% FPR" in driver.find_element(By.ID, "tracks").text
    assert driver.find_elements(By.CSS_SELECTOR, ".badge.b-ok")  # a row clears its null control


def test_track_page_table_sorts_and_draws(driver, site, tmp_path):
    from selenium.webdriver.common.by import By

    from mia_bench.leaderboard import build_tracks
    from mia_bench.results import load_records

    track = next(t for t in build_tracks(load_records(site.parent / "runs" / "toy")) if t.key == "toy|pair|biometric")
    _open(driver, site / "toy" / "toy-pair-biometric.html", tmp_path / "track.png")
    body_rows = driver.find_elements(By.CSS_SELECTOR, "#board tbody tr")
    assert len(body_rows) == len(track.rows) >= 3
    header = next(h for h in driver.find_elements(By.CSS_SELECTOR, "#board th") if h.text.startswith("AUC"))
    col = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "#board th")].index(header.text)

    def aucs() -> list[float]:
        cells = driver.find_elements(By.CSS_SELECTOR, f"#board tbody tr td:nth-child({col + 1})")
        return [float(c.get_attribute("data-v")) for c in cells]

    before = aucs()
    header.click()
    assert aucs() == sorted(before) and "asc" in header.get_attribute("class")
    header.click()
    assert aucs() == sorted(before, reverse=True)
    assert sorted(before) != before or len(set(before)) == 1  # the click changed the order it found
    for img in driver.find_elements(By.CSS_SELECTOR, "figure img"):  # the SVG figures loaded and drew
        assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0
    assert len(driver.find_elements(By.CSS_SELECTOR, "#compare-out tbody tr")) > 10
    assert len(driver.find_elements(By.CSS_SELECTOR, "#cmp-roc polyline")) == 3
    driver.execute_script("arguments[0].scrollIntoView()", driver.find_element(By.ID, "compare"))
    driver.save_screenshot(str(tmp_path / "compare.png"))
    assert not _severe(driver), _severe(driver)
