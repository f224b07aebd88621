"""Bootstrap EM against :func:`imputer.impute` on the same resamples.

Reference: imputation ``j`` draws its resample first from its own stream,
``default_rng(SeedSequence(seed).spawn(m)[j - 1]).integers(0, n, n)`` (module docstring of
``imputer.mi.api``); ``imputer.impute(data.iloc[rows])`` must give the imputation's
parameters (same EM, same options) to 1e-10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerValueError
from imputer.mi import _bootstrap
from tests.imputer.mi.simulate import mar_table


def _resample(seed: int, m: int, j: int, n: int) -> np.ndarray:
    ss = np.random.SeedSequence(seed).spawn(m)[j]
    return np.random.default_rng(ss).integers(0, n, size=n)


@pytest.mark.parametrize(("n", "p", "ridge", "seed"), [(80, 3, 0.0, 1), (60, 4, 2.0, 2)])
def test_each_imputation_is_impute_on_its_resample(n: int, p: int, ridge: float, seed: int) -> None:
    df, _, _ = mar_table(n, p, seed=seed)
    df["label"] = [f"r{i}" for i in range(n)]
    df.index = pd.Index([f"row{i}" for i in range(n)], name="key")
    m = 4
    mi = imputer.multiple_impute(df, m=m, method="bootstrap", ridge=ridge, seed=seed)
    assert mi.redraws == (0,) * m and mi.burn_in is None and mi.thin is None and mi.wlf is None
    for j, (mean, cov) in enumerate(mi.params):
        ref = imputer.impute(df.iloc[_resample(seed, m, j, n)], ridge=ridge)
        np.testing.assert_allclose(mean.to_numpy(), ref.mean.to_numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(cov.to_numpy(), ref.cov.to_numpy(), rtol=0, atol=1e-10)
        assert mean.index.equals(ref.mean.index) and cov.columns.equals(ref.cov.columns)


def test_imputations_are_conditional_draws_at_the_resample_estimate() -> None:
    """Across many imputations of one row, the drawn cell's mean/variance given its params are the conditional's."""
    df, _, _ = mar_table(50, 2, seed=4, rate=0.3)
    i = int(np.flatnonzero(df["v1"].isna())[0])
    mi = imputer.multiple_impute(df, m=300, method="bootstrap", seed=3)
    z = []
    for imp, (mean, cov) in zip(mi.imputations, mi.params):
        mu, s = mean.to_numpy(), cov.to_numpy()
        cm = mu[1] + s[1, 0] / s[0, 0] * (df["v0"].iloc[i] - mu[0])
        cv = s[1, 1] - s[1, 0] ** 2 / s[0, 0]
        z.append((imp["v1"].iloc[i] - cm) / np.sqrt(cv))
    z = np.array(z)
    assert abs(z.mean()) < 4 / np.sqrt(z.size) and abs(z.std() - 1) < 0.15


def test_unusable_resamples_are_redrawn_then_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    # column b observed in 2 rows of 30: a resample often misses both or repeats one (constant)
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=30), "b": np.nan})
    df.loc[[3, 17], "b"] = [1.0, 2.5]
    mi = imputer.multiple_impute(df, m=3, method="bootstrap", seed=1, ridge=1.0)
    assert sum(mi.redraws) > 0
    monkeypatch.setattr(_bootstrap, "MAX_REDRAWS", 0)
    with pytest.raises(ImputerValueError, match=r"method='bootstrap', imputation \d+: 1 bootstrap resamples in a row were unusable \(the last: column 'b'"):
        imputer.multiple_impute(df, m=20, method="bootstrap", seed=1, ridge=1.0)
