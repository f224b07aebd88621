"""README's "Panels and bounded columns: the freetrade example" runs, and its comments hold."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_readme_freetrade_example(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("### Panels and bounded columns: the freetrade example")
    block = re.search(r"```python\n(.*?)```", readme[start:], re.S)
    assert block is not None
    monkeypatch.chdir(ROOT)
    ns: dict[str, object] = {}
    exec(compile(block.group(1), "README.md", "exec"), ns)  # noqa: S102 - our own README
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "True"
    assert lines[1] == "['time[India]', 'time^2[India]', 'unit[Indonesia]']"
    ft: pd.DataFrame = ns["ft"]  # type: ignore[assignment]
    res = ns["res"]
    gap = ns["gap"]
    fills = res.completed.loc[gap, "tariff"].to_numpy()  # type: ignore[attr-defined]
    assert lines[2] == str(np.round(fills, 1).tolist())
    # Malaysia's gap lies between its neighbours 1981 (10.6) and 1986 (15.8), not at the pooled mean (~32)
    assert fills.min() > 5 and fills.max() < 20
    assert lines[3].startswith("True [")
    for imp in ns["mi"].imputations:  # type: ignore[attr-defined]
        pol = imp.loc[ft["polity"].isna(), "polity"].to_numpy()
        assert np.array_equal(pol, np.rint(pol)) and (np.abs(pol) <= 10).all()
        assert (imp["tariff"] >= 0).all() and imp.columns.equals(ft.columns)
        assert set(imp.loc[ft["signed"].isna(), "signed"]) <= {0.0, 1.0}
    assert lines[4] in ("[0.0, 1.0]", "[0.0]", "[1.0]")
    signed = res.completed.loc[ft["signed"].isna(), "signed"]  # type: ignore[attr-defined]
    assert signed.between(0, 1).all()
