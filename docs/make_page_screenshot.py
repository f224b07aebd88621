"""Make docs/page.png, the README's picture of the web page, with a real uvicorn and headless Chromium.

    python docs/make_page_screenshot.py

Starts the service on 127.0.0.1 (job store in a temporary directory), opens ``/``, uploads
``examples/airquality.csv``, runs EM and saves the page once the result is shown.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.api.live import uvicorn_server  # noqa: E402
from tests.browser import chromium_driver  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"IMPUTER_JOBS_URL": f"sqlite:///{tmp}/jobs.sqlite3", "IMPUTER_API_KEYS": ""}
        with uvicorn_server(env) as (url, _proc):
            driver = chromium_driver("the web page")
            try:
                driver.set_window_size(1100, 1900)
                driver.get(url + "/")
                driver.find_element("id", "file").send_keys(str(ROOT / "examples" / "airquality.csv"))
                deadline = time.monotonic() + 120
                while driver.execute_script("return document.getElementById('options-section').hidden"):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the overview did not appear")
                    time.sleep(0.2)
                driver.find_element("id", "run").click()
                while driver.execute_script("return document.getElementById('result-section').hidden"):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the result did not appear")
                    time.sleep(0.2)
                out = ROOT / "docs" / "page.png"
                driver.save_screenshot(str(out))
                print(f"wrote {out}")
            finally:
                driver.quit()


if __name__ == "__main__":
    main()
