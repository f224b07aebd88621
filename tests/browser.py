"""Headless Chromium for the tests that open a page in a real browser (test-only helper).

Debian's ``chromium`` and ``chromedriver`` (``/usr/bin``) driven by selenium (``dev``
extra); where either is missing the calling test is skipped with the reason (shown by
``-ra``). Every page load and script is bounded by ``timeout`` seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

__all__ = ["chromium_driver", "severe_console_entries"]


def chromium_driver(what: str, *, timeout: float = 60, download_dir: Path | None = None) -> Any:
    """A headless Chrome WebDriver, or ``pytest.skip`` saying what cannot be tested (``what``)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip(f"headless Chromium not available: install Debian's chromium and chromium-driver "
                    f"(apt-get install chromium chromium-driver) to run the browser test of {what}")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (dev extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,2000", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if download_dir is not None:
        options.add_experimental_option("prefs", {
            "download.default_directory": str(download_dir), "download.prompt_for_download": False,
        })
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(timeout)
    driver.set_script_timeout(timeout)
    return driver


def severe_console_entries(driver: Any) -> list[dict[str, Any]]:
    """The browser console's errors since the last call."""
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
