"""``impute_t``'s fit: monotone, the normal in the limit, row weights, fills, conditional variances.

Naive per-row formulas (``np.linalg.solve`` on ``Sigma_OO``, row by row; no code shared
with the engine) give the expected fills ``mu_M + S_MO S_OO^-1 (x_O - mu_O)``, the row
weights ``(nu + p_i)/(nu + d_i^2)`` and the conditional variances
``(nu + d_i^2)/(nu + p_i - 2) diag(S_MM - S_MO S_OO^-1 S_OM)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer

from .conftest import DATA, OUTLIER_ROWS, datasets, t_data


def _naive(values: np.ndarray, mean: np.ndarray, scale: np.ndarray, nu: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: completed row, weight ``(nu + p_i)/(nu + d_i^2)``, conditional variances (0 where observed)."""
    filled = values.copy()
    weight = np.empty(len(values))
    var = np.zeros_like(values)
    for i, row in enumerate(values):
        m = np.isnan(row)
        o = ~m
        p_i = int(o.sum())
        d2 = 0.0
        cond = scale[np.ix_(m, m)]
        if p_i:
            s_oo, s_mo = scale[np.ix_(o, o)], scale[np.ix_(m, o)]
            r = row[o] - mean[o]
            d2 = float(r @ np.linalg.solve(s_oo, r))
            filled[i, m] = mean[m] + s_mo @ np.linalg.solve(s_oo, r)
            cond = cond - s_mo @ np.linalg.solve(s_oo, s_mo.T)
        else:
            filled[i] = mean
        weight[i] = (nu + p_i) / (nu + d2)
        if m.any():
            var[i, m] = (nu + d2) / (nu + p_i - 2) * np.diag(cond) if nu + p_i > 2 else np.nan
    return filled, weight, var


@pytest.mark.parametrize("ridge", [0.0, 2.0])
@pytest.mark.parametrize("dof", [None, 3.0])
@pytest.mark.parametrize("accelerate", [True, False], ids=["squarem", "plain"])
@pytest.mark.parametrize("name", ["airquality", "t_mar"])
def test_loglik_history_never_decreases(name: str, accelerate: bool, dof: float | None, ridge: float) -> None:
    res = imputer.impute_t(datasets()[name], dof=dof, ridge=ridge, accelerate=accelerate)
    h = res.loglik_history
    assert res.converged and h.size >= 2
    assert np.all(np.diff(h) >= -1e-10 * np.abs(h[1:]))
    if not accelerate:
        assert h.size == res.n_iter


@pytest.mark.parametrize("name", ["airquality_complete", "t_complete", "airquality", "t_mar"])
def test_infinite_dof_is_the_normal(name: str) -> None:
    data = datasets()[name]
    t = imputer.impute_t(data, dof=1e8)
    normal = imputer.impute(data)
    sd = np.sqrt(np.diag(normal.cov.to_numpy()))
    assert np.max(np.abs(t.mean - normal.mean).to_numpy() / sd) < 1e-6
    assert np.max(np.abs((t.cov - normal.cov).to_numpy()) / np.outer(sd, sd)) < 1e-6
    assert np.max(np.abs((t.scale - normal.cov).to_numpy()) / np.outer(sd, sd)) < 1e-6
    scale = np.abs(normal.completed.to_numpy()).max()
    assert np.max(np.abs((t.completed - normal.completed).to_numpy())) < 1e-6 * scale
    # the t's log-likelihood differs from the normal's by O(n p^2 / nu), and log-Gamma
    # differences at nu = 1e8 lose ~1e-7 each to cancellation
    assert t.loglik == pytest.approx(normal.loglik, abs=1e-3)
    assert np.allclose(t.row_weights, 1.0, atol=1e-6)


@pytest.mark.parametrize("name", ["t_mar", "t_complete"])
def test_planted_outliers_get_the_smallest_weights(name: str) -> None:
    data = datasets()[name]
    res = imputer.impute_t(data)
    w = res.row_weights
    assert set(w.nsmallest(len(OUTLIER_ROWS)).index) == set(OUTLIER_ROWS)
    assert w.idxmin() == OUTLIER_ROWS[-1]  # the farthest
    assert 0.5 < res.dof < 10.0  # t data with nu = 4 (and outliers)
    assert res.dof_estimated


@pytest.mark.parametrize("dof", [None, 0.8, 2.0, 6.0])
@pytest.mark.parametrize("name", ["airquality", "t_mar"])
def test_fills_weights_and_conditional_variances_match_the_naive_formulas(name: str, dof: float | None) -> None:
    data = datasets()[name]
    res = imputer.impute_t(data, dof=dof)
    x = data.to_numpy(dtype=float)
    filled, weight, var = _naive(x, res.mean.to_numpy(), res.scale.to_numpy(), res.dof)
    np.testing.assert_allclose(res.completed.to_numpy(dtype=float), filled, rtol=1e-10, atol=1e-12 * np.nanmax(np.abs(x)))
    np.testing.assert_allclose(res.row_weights.to_numpy(), weight, rtol=1e-10)
    np.testing.assert_allclose(res.conditional_var.to_numpy(), var, rtol=1e-9, equal_nan=True)
    if dof == 0.8 and name == "t_mar":  # rows observing one cell: 0.8 + 1 <= 2, no finite variance
        assert np.isnan(res.conditional_var.to_numpy()).any()
    if res.dof > 2:
        np.testing.assert_allclose(res.cov.to_numpy(), res.dof / (res.dof - 2) * res.scale.to_numpy(), rtol=1e-15)
    else:
        assert res.cov.isna().all().all()
    assert res.row_weights.index.equals(data.index)


def test_table_in_table_out_and_the_callers_data_untouched() -> None:
    frame = pd.read_csv(DATA / "airquality.csv")
    frame["Ozone"] = frame["Ozone"].astype("Int64")
    frame["site"] = "a"
    frame.index = pd.RangeIndex(100, 100 + len(frame))
    before = frame.copy()
    res = imputer.impute_t(frame, columns=["Ozone", "Solar.R", "Wind", "Temp"])
    pd.testing.assert_frame_equal(frame, before)
    out = res.completed
    assert out.index.equals(frame.index) and list(out.columns) == list(frame.columns)
    assert str(out["Ozone"].dtype) == "Float64" and out["Wind"].dtype == frame["Wind"].dtype
    assert res.passthrough == ("Month", "Day", "site")
    for c in ["Month", "Day", "site", "Wind", "Temp"]:
        pd.testing.assert_series_equal(out[c], frame[c])
    observed = frame["Solar.R"].notna().to_numpy()
    assert np.array_equal(out["Solar.R"].to_numpy()[observed], frame["Solar.R"].to_numpy()[observed])
    assert not out[["Ozone", "Solar.R"]].isna().any().any()


def test_estimated_dof_stays_in_its_range_on_normal_data() -> None:
    rng = np.random.default_rng(5)
    x = rng.multivariate_normal([0.0, 1.0], [[1.0, 0.5], [0.5, 2.0]], size=400)
    x[rng.random(400) < 0.3, 1] = np.nan
    res = imputer.impute_t(x)
    lo, hi = res.dof_bounds
    assert lo <= res.dof <= hi and res.dof > 20  # light tails: far toward the normal


def test_simulated_data_generator_plants_what_it_says() -> None:
    d = t_data(300, 3, seed=11)
    assert d.iloc[list(OUTLIER_ROWS)].notna().all().all() and d["v0"].notna().all() and d.isna().any().any()
