"""README's "Random slopes" example runs as written (from the repository root) and says what it claims."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from tests.readme import run_python_block

def test_readme_random_slopes_example_runs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    namespace: dict[str, Any] = run_python_block('### Random slopes: correlated random effects', monkeypatch)
    res = namespace["res"]
    assert "Random effects:" in capsys.readouterr().out
    G = res.covariances["Subject"]
    assert list(G.index) == ["(Intercept)", "Days"]
    # the numbers quoted in the README's comments
    assert round(G.iloc[0, 0], 2) == 612.09 and round(G.iloc[0, 1], 2) == 9.60 and round(G.iloc[1, 1], 2) == 35.07
    assert round(res.correlations["Subject"].iloc[0, 1], 3) == 0.066
    assert round(res.var_comp["residual"], 2) == 654.94 and res.converged
    assert list(res.var_comp.index) == ["Subject", "Subject.Days", "residual"]
    assert isinstance(res.u["Subject"], pd.DataFrame) and res.u["Subject"].shape == (18, 2)
