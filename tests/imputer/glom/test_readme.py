"""README's "Categorical columns: the general location model" example runs as written (from the repository root)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from tests.readme import run_python_block

def test_readme_glom_example_runs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    namespace: dict[str, Any] = run_python_block('## Categorical columns: the general location model', monkeypatch)
    res, same, df = namespace["res"], namespace["same"], namespace["df"]
    assert "General location model" in capsys.readouterr().out
    assert (res.categorical, res.continuous, res.passthrough) == (("sex", "smoker"), ("height", "weight"), ("note",))
    done = res.completed
    assert not done[["sex", "smoker", "height", "weight"]].isna().any().any()
    assert isinstance(done["sex"].dtype, pd.CategoricalDtype) and set(done["smoker"]) <= {0.0, 1.0}
    assert done["note"].equals(df["note"])
    assert same == res
