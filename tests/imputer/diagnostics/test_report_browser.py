"""The report in a real browser: headless Chromium renders it without console errors and
every figure loads (``img.naturalWidth > 0``); a screenshot is kept in ``tmp_path``.

Needs Debian's ``chromium`` and ``chromedriver`` (``/usr/bin``) and selenium (``dev``
extra); without them the test is skipped with the reason in the summary (``-ra``). Only
the local file is opened; every wait is bounded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imputer.diagnostics.report import write_report
from tests.browser import chromium_driver, severe_console_entries

pytest.importorskip("matplotlib", reason="the report's figures need matplotlib (pip install 'imputer[plot]')")

ROOT = Path(__file__).resolve().parents[3]
AIR = ROOT / "tests" / "data" / "airquality.csv"
TIMEOUT = 60  # seconds, for the page load and each script


@pytest.fixture(scope="module")
def browser():
    driver = chromium_driver("the HTML report", timeout=TIMEOUT)
    yield driver
    driver.quit()


def _open(browser, path: Path) -> dict:
    """Load ``path`` and read its state once the document and its images have loaded.

    ``get`` may return while a large page is still ``interactive`` (seen on a loaded CI
    machine with the 1,500-row report), so the load is awaited, bounded by ``TIMEOUT``.
    """
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(path.resolve().as_uri())
    loaded = ("return document.readyState === 'complete'"
              " && Array.from(document.images).every(i => i.complete)")
    try:
        WebDriverWait(browser, TIMEOUT, poll_frequency=0.1).until(lambda d: d.execute_script(loaded))
    except TimeoutException:
        pass  # the assertions below say what had not loaded
    state = browser.execute_script(
        "return {ready: document.readyState, title: document.title,"
        " images: Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.alt]),"
        " svgs: Array.from(document.querySelectorAll('svg')).map(s => s.getBoundingClientRect().width),"
        " resources: performance.getEntriesByType('resource').map(e => e.name),"
        " scripts: document.scripts.length, h1: document.querySelector('h1').textContent};"
    )
    state["severe"] = severe_console_entries(browser)
    return state


def _frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(3)
    many = rng.normal(size=(1500, 12))
    many[rng.random(many.shape) < 0.4] = np.nan
    return {
        "airquality": pd.read_csv(AIR),
        "no-missing": pd.DataFrame({"a": [1.0, 2.0, 4.0, 3.0], "b": [3.0, 1.0, 2.0, 5.0]}),
        "escaped-names": pd.DataFrame({'<script>alert("x")</script>': [1.0, np.nan, 3.0, 4.0, 2.0],
                                       "a&b": [2.0, 1.0, np.nan, 3.0, 5.0]}),
        "many-patterns": pd.DataFrame(many, columns=[f"x{j}" for j in range(12)]),
    }


@pytest.mark.parametrize("name", list(_frames()))
def test_renders_without_errors_and_every_figure_loads(browser, name: str, tmp_path: Path) -> None:
    frame = _frames()[name]
    path = tmp_path / f"{name}.html"
    report = write_report(path, frame, command=f"imputer diagnose {name}.csv --report {path.name}", source=name)
    state = _open(browser, path)
    browser.save_screenshot(str(tmp_path / f"{name}.png"))
    assert (tmp_path / f"{name}.png").stat().st_size > 0
    assert state["ready"] == "complete"
    assert state["severe"] == []
    assert state["title"] == f"imputer diagnostics: {name}"
    assert state["h1"] == f"Diagnostics: {name}"
    assert state["scripts"] == 0
    assert [r for r in state["resources"] if not r.startswith("data:")] == []
    assert len(state["images"]) == report.n_figures >= 2
    for complete, width, height, alt in state["images"]:
        assert complete and width > 0 and height > 0, alt
    assert all(w > 0 for w in state["svgs"])
