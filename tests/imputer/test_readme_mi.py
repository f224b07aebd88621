"""README's "Multiple imputation" section runs, and what its text claims holds.

The python block is executed from the project root (it reads examples/airquality.csv):
the pooled table must be ``imputer.pool`` of the twenty per-imputation OLS fits (refitted
here from ``mi.imputations``), and the single conditional-mean table's standard errors
must be too small, as the text says (about 20%: ratio below 0.9 for every coefficient).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("statsmodels")


def _section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Multiple imputation: when to use it")
    return readme[start:readme.index("\n## ", start + 1)]


def test_python_example_runs_and_pools_the_fits(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import statsmodels.formula.api as smf

    block = re.search(r"```python\n(.*?)```", _section(), re.S)
    assert block is not None
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    mi, pooled = namespace["mi"], namespace["pooled"]
    assert mi == imputer.multiple_impute(pd.read_csv(ROOT / "examples" / "airquality.csv"), m=20, seed=1)
    assert "Multiple imputation (multivariate normal)" in out and "fmi" in out
    # independent of analyze(): refit each imputation, pool by hand with imputer.pool
    fits = [smf.ols('Ozone ~ Q("Solar.R") + Wind + Temp', data=df).fit() for df in mi.imputations]  # type: ignore[attr-defined]
    expected = imputer.pool([f.params for f in fits], [f.cov_params() for f in fits], dfcom=149)
    pd.testing.assert_frame_equal(pooled.table, expected.table, rtol=1e-12)  # type: ignore[attr-defined]
    ratio = namespace["single"].bse / pooled.table["se"]  # type: ignore[attr-defined]
    assert (ratio < 0.9).all() and (ratio > 0.5).all()
    assert np.all(pooled.table["fmi"] > 0)  # type: ignore[attr-defined]
