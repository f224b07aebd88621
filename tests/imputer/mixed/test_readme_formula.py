"""README's "Formulas, interactions, contrasts, missing covariates" example runs as written and says what it claims."""

from __future__ import annotations

from typing import Any

import pytest

from tests.readme import run_python_block

def test_readme_formula_example_runs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    namespace: dict[str, Any] = run_python_block('### Formulas, interactions, contrasts, missing covariates', monkeypatch)
    out = capsys.readouterr().out
    res, kept = namespace["res"], namespace["kept"]
    # the numbers and texts quoted in the README's comments
    assert round(res.beta["temperature.L"], 2) == 6.43
    assert round(res.beta["recipe[T.B]:temperature.L"], 2) == 0.45
    assert dict(res.contrasts) == {"recipe": "treatment", "temperature": "poly"}
    assert "Number of obs: 270, groups: recipe:replicate, 45" in out
    assert "Contrasts: recipe treatment, temperature poly" in out
    assert out.rstrip().endswith("2 (0, 5)")
    assert kept.n_dropped == 2 and kept.dropped == (0, 5) and kept.n_obs == 268
