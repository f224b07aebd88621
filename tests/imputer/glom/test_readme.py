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


def test_readme_pairwise_and_multiple_imputation_example_runs(capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    ns: dict[str, Any] = run_python_block("### Log-linear cell probabilities and multiple imputation", monkeypatch)
    pw, sat, mi, df = ns["pw"], ns["sat"], ns["mi"], ns["df"]
    assert "smokers" in capsys.readouterr().out
    assert (pw.probability_model, sat.probability_model) == ("pairwise", "saturated")
    assert ns["df_lr"] == 2 and ns["lr"] >= -1e-6  # the saturated model nests the pairwise one
    assert mi.model == "glom" and mi.m == 5
    for imp in mi.imputations:
        assert list(imp["region"].cat.categories) == list(df["region"].cat.categories)
        assert not imp.isna().any().any()
    row = ns["share"].table.loc["smokers"]
    assert 0.15 < row["estimate"] < 0.4 and row["se"] > 0
