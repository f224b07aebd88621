"""README's "Long runs" example runs and prints what it says.

The block is executed from the project root; the callback's last objective must be the
result's log-likelihood (the history's last entry is the objective at the estimate's
iterate, and for ML the objective is the log-likelihood), the rough fit must have stopped
by its callback at a change below 1e-3, and the capped one must be the plain fit.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

import imputer

ROOT = Path(__file__).resolve().parents[3]


def test_long_runs_example(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("### Long runs: progress, a callback, a time limit")
    block = re.search(r"```python\n(.*?)```", readme[start:], re.S)
    assert block is not None
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out.splitlines()
    assert out[-1].split() == ["stopped", "False"]
    seen, res, rough, capped = (namespace[k] for k in ("seen", "res", "rough", "capped"))
    assert seen[-1][1] == pytest.approx(res.loglik_history[-1], rel=1e-12)  # type: ignore[index, attr-defined]
    assert rough.trace.stop_reason == "stopped" and rough.trace.changes.size > 0  # type: ignore[attr-defined]
    assert capped == imputer.impute(pd.read_csv(ROOT / "examples" / "airquality.csv"))
    assert [str(w.message) for w in caught if "callback asked to stop" in str(w.message)]
