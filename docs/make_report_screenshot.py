"""Make docs/report.png, the README's picture of the diagnostics report.

The report is written by the project's own command
(``imputer diagnose examples/airquality.csv --report report.html``), photographed by
headless Chromium (Debian's ``chromium``) and reduced to a 256-colour PNG (Pillow, which
matplotlib brings) so that it stays small (< 200 KB). Run from the project root:

    python docs/make_report_screenshot.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "report.png"
WIDTH, HEIGHT = 1100, 1700


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("needs headless Chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "examples", work / "examples")
        subprocess.run([sys.executable, "-m", "imputer", "diagnose", "examples/airquality.csv", "--report",
                        "report.html"], cwd=work, check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        shot = work / "shot.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}", (work / "report.html").as_uri()],
                       check=True, capture_output=True, timeout=120)
        image = Image.open(shot).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        image.save(OUT, optimize=True)
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
