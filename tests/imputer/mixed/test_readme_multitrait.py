"""README's multi-trait example runs as written and says what it claims."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.readme import run_python_block


def test_readme_multitrait_example_runs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    namespace: dict[str, Any] = run_python_block("### Multi-trait models: missing traits predicted", monkeypatch)
    res, Y = namespace["res"], namespace["Y"]
    assert "Covariance line:" in capsys.readouterr().out
    G = res.covariances["line"]
    assert list(G.index) == ["yield", "height", "protein"]
    # the numbers quoted in the README's comments
    assert round(G.loc["yield", "yield"], 2) == 1.66 and round(G.loc["yield", "height"], 2) == 0.70
    assert round(res.correlations["residual"].loc["yield", "height"], 2) == 0.56
    assert res.converged and res.n_missing == int(Y.isna().sum().sum())
    obs = Y.notna().to_numpy()
    assert np.array_equal(res.completed.to_numpy()[obs], Y.to_numpy()[obs])
