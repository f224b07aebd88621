"""README's "Categorical columns: the general location model" example runs as written (from the repository root)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_readme_glom_example_runs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Categorical columns: the general location model")
    section = readme[start : readme.index("\n## ", start + 1)]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    res, same, df = namespace["res"], namespace["same"], namespace["df"]
    assert "General location model" in capsys.readouterr().out
    assert (res.categorical, res.continuous, res.passthrough) == (("sex", "smoker"), ("height", "weight"), ("note",))
    done = res.completed
    assert not done[["sex", "smoker", "height", "weight"]].isna().any().any()
    assert isinstance(done["sex"].dtype, pd.CategoricalDtype) and set(done["smoker"]) <= {0.0, 1.0}
    assert done["note"].equals(df["note"])
    assert same == res
