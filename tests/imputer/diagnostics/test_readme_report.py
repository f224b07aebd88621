"""README's "A report to open in a browser, and the figures" runs and says what it does.

The sh block runs with ``python -m imputer`` for ``imputer`` in a folder holding a copy of
examples/; the python block runs there too; the screenshot it shows exists and is small.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ._html_check import check_self_contained

pytest.importorskip("matplotlib", reason="the README's figures need matplotlib (pip install 'imputer[plot]')")

ROOT = Path(__file__).resolve().parents[3]
HEADING = "### A report to open in a browser, and the figures"


def _section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(HEADING)
    return readme[start:readme.index("\n## ", start)]


def _block(lang: str) -> str:
    block = re.search(rf"```{lang}\n(.*?)```", _section(), re.S)
    assert block is not None, lang
    return block.group(1)


def test_shell_example_writes_the_report(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for line in _block("sh").strip().splitlines():
        cmd = line.replace("imputer diagnose", f"{sys.executable} -m imputer diagnose")
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=tmp_path,
                              env=env, timeout=300)
        assert proc.returncode == 0, (line, proc.stderr)
        assert proc.stderr == "imputer: wrote report 'report.html' (4 figures)\n"
    doc = check_self_contained((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert "command imputer diagnose examples/airquality.csv --report report.html" in doc.text


def test_python_example_draws_every_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(_block("python"), "README.md", "exec"), namespace)
    for name in ("patterns", "densities", "overimpute", "trace", "blups"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0, name
    from imputer.plot import overimpute_table

    table = overimpute_table(namespace["res"])
    share = table[table["column"] == "Ozone"]["inside"].mean()
    assert f"cover {100 * share:.1f}% (Ozone)" in _block("python")


def test_the_screenshot_is_there_and_small() -> None:
    link = re.search(r"!\[[^\]]*\]\(([^)]+)\)", _section())
    assert link is not None
    png = ROOT / link.group(1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size < 200 * 1024
    assert (ROOT / "docs" / "make_report_screenshot.py").exists()  # how it was made
