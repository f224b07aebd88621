"""README's "Look before you trust" section runs and prints what it says.

The python block is executed from the project root (it reads examples/airquality.csv);
the printed table shown in the text block must be ``pt.table``'s; the sh block runs with
``python -m imputer`` for ``imputer``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme[readme.index("## Look before you trust"):readme.index("## Mixed models")]


def _block(lang: str) -> str:
    block = re.search(rf"```{lang}\n(.*?)```", _section(), re.S)
    assert block is not None, lang
    return block.group(1)


def test_python_example_runs_and_its_numbers_hold(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {}
    exec(compile(_block("python"), "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    test, pt = namespace["test"], namespace["pt"]
    assert (round(test.statistic, 3), test.df, round(test.p_value, 5)) == (35.106, 14, 0.00142)  # type: ignore[attr-defined]
    assert pt.column_missing.to_dict()["Ozone"] == 37 and pt.column_missing.to_dict()["Solar.R"] == 7  # type: ignore[attr-defined]
    shown = [line.split() for line in _block("text").strip().splitlines()]
    printed = [line.split() for line in pt.table.to_string().splitlines()]  # type: ignore[attr-defined]
    assert shown == printed
    assert "Little's MCAR test" in out


def test_shell_example_runs(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "airquality.csv").write_bytes((ROOT / "examples" / "airquality.csv").read_bytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for line in _block("sh").strip().splitlines():
        cmd = line.replace("imputer diagnose", f"{sys.executable} -m imputer diagnose")
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
        assert proc.returncode == 0, (line, proc.stderr)
    written = json.loads((tmp_path / "diagnostics.json").read_text())
    assert written["columns"] == ["Ozone", "Solar.R", "Wind", "Temp"] and written["mcar"]["df"] == 8
