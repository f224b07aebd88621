"""The web page at / in a real browser (issue 14): enter the API key once, upload
examples/airquality.csv, see its missingness, run EM as a job, wait for the result, download the completed table and compare
it with the Python API; run it again with max_iter=2 and see the fit's warnings; no console errors. A real uvicorn on 127.0.0.1 with its job store in
``tmp_path``; headless Chromium (skipped with the reason where it is absent)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import imputer
from tests.api.live import uvicorn_server
from tests.browser import chromium_driver, severe_console_entries

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
AIR = ROOT / "examples" / "airquality.csv"
WAIT = 90  # seconds, for each step of the page
KEY = "page-test-key"  # the server requires it: the page asks once per browser session


def _wait(driver: Any, script: str, what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    error = driver.execute_script("return document.getElementById('error').textContent")
    raise AssertionError(f"timed out waiting for {what}; page error: {error!r}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = tmp_path_factory.mktemp("jobs") / "jobs.sqlite3"
    env = {"IMPUTER_JOBS_URL": f"sqlite:///{store}", "IMPUTER_API_KEYS": KEY, "IMPUTER_MAX_CONCURRENT_JOBS": "1"}
    with uvicorn_server(env) as (url, _proc):
        yield url


def test_upload_run_download(site: str, tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = chromium_driver("the web page", timeout=WAIT, download_dir=downloads)
    try:
        driver.get(site + "/")
        # (under load the first navigation has returned before the document had its title:
        # wait for it, then check it)
        title = _wait(driver, "return document.readyState === 'complete' && document.title", "the page's title")
        assert title.startswith("imputer "), title
        driver.find_element("id", "api-key").send_keys(KEY)
        driver.find_element("id", "key-save").click()
        driver.get(site + "/")  # kept for the session: not asked again
        assert driver.find_element("id", "key-state").text == "key set for this session"
        driver.find_element("id", "file").send_keys(str(AIR))
        _wait(driver, "return !document.getElementById('overview').hidden", "the missingness overview")
        rows = driver.execute_script(
            "return [...document.querySelectorAll('#missing-table tbody tr')].map(r => r.textContent)")
        assert len(rows) == 6 and rows[0].startswith("Ozone37")
        assert "153 rows" in driver.find_element("id", "overview-summary").text
        driver.find_element("id", "run").click()
        _wait(driver, "return !document.getElementById('result-section').hidden", "the result")
        summary = driver.find_element("id", "result-summary").text
        assert summary.startswith("Converged")
        expected = imputer.impute(pd.read_csv(AIR))
        shown = driver.execute_script(
            "return [...document.querySelectorAll('#mean-table tbody tr')].map(r => r.children[1].textContent)")
        np.testing.assert_allclose([float(x) for x in shown], expected.mean.to_numpy(), rtol=5e-5)
        assert driver.execute_script("return document.querySelectorAll('#trace polyline').length") == 1
        assert driver.execute_script("return document.querySelectorAll('#densities svg').length") == 6
        driver.find_element("id", "download").click()
        target = downloads / "airquality_completed.csv"
        deadline = time.monotonic() + WAIT
        # Chrome may show the file under its name before its bytes are in: wait for content,
        # and for no partial download left (a fresh-clone CI run read it empty)
        while time.monotonic() < deadline and not (
            target.exists() and target.stat().st_size > 0 and not list(downloads.glob("*.crdownload"))
        ):
            time.sleep(0.2)
        got = pd.read_csv(target)
        np.testing.assert_array_equal(got.to_numpy(dtype=float), expected.completed.to_numpy(dtype=float))
        assert "Warnings" not in summary
        # a fit stopped by max_iter: the summary says so and shows the answer's warnings
        box = driver.find_element("id", "max-iter")
        box.clear()
        box.send_keys("2")
        driver.find_element("id", "run").click()
        summary = _wait(driver, "const t = document.getElementById('result-summary').textContent; "
                        "return t.startsWith('Not converged') && t", "the unconverged result")
        assert summary.endswith(
            " Warnings: EM did not converge within max_iter=2 iterations (tol=1e-07); increase max_iter or tol")
        assert severe_console_entries(driver) == []
        driver.save_screenshot(str(tmp_path / "page.png"))
    finally:
        driver.quit()


def test_docs_render_offline(site: str) -> None:
    driver = chromium_driver("the API documentation", timeout=WAIT)
    try:
        driver.get(site + "/docs")
        _wait(driver, "return document.querySelectorAll('.opblock').length > 5", "Swagger UI's operations")
        driver.get(site + "/redoc")
        _wait(driver, "return document.querySelectorAll('[data-section-id]').length > 5", "ReDoc's sections")
        # every script, stylesheet and request is local; ReDoc's "by Redocly" footer logo is an
        # <img> from its CDN, which offline simply does not show
        external = driver.execute_script(
            "return performance.getEntriesByType('resource').filter(e => e.initiatorType !== 'img')"
            ".map(e => e.name).filter(u => !u.startsWith(location.origin))")
        assert external == []
    finally:
        driver.quit()
