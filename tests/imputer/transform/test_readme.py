"""README's "Skewed and bounded columns" example runs, and its comments hold: the mean is
labelled on the model scale, and the printed fill is exp(m + v/2) of the model's conditional
moments."""

from __future__ import annotations

import numpy as np
import pytest

from tests.readme import run_python_block


def test_readme_transforms_example(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_python_block("### Skewed and bounded columns", monkeypatch)
    res = ns["res"]
    assert list(res.mean.index[:3]) == ["log(Ozone)", "logit(Solar.R; 0, 400)", "Wind"]  # type: ignore[attr-defined]
    m = res.model.completed.loc[4, "log(Ozone)"]  # type: ignore[attr-defined]
    v = res.model.conditional_var.loc[4, "log(Ozone)"]  # type: ignore[attr-defined]
    assert np.isnan(ns["df"].loc[4, "Ozone"])  # type: ignore[index]
    assert float(capsys.readouterr().out.strip().splitlines()[-1]) == pytest.approx(np.exp(m + v / 2), rel=1e-12)
