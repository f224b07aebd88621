"""README's "Heavy tails: the multivariate t" section runs and its numbers hold.

The python block is executed from the project root (it reads examples/airquality.csv).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _block() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("### Heavy tails: the multivariate t")
    section = readme[start : readme.index("\n## ", start)]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    return block.group(1)


def test_python_example_runs_and_its_numbers_hold(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {}
    exec(compile(_block(), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    res, fixed = namespace["res"], namespace["fixed"]
    assert "Multivariate-t EM imputation" in out and "\n29.5\n" in out
    weights = res.row_weights.nsmallest(3)
    assert weights.index[0] == 116 and round(weights.iloc[0], 2) == 0.56
    assert res.completed.loc[116, "Ozone"] == 168
    assert fixed.dof == 4.0 and not fixed.dof_estimated
