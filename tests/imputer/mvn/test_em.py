"""EM behaviour of ``imputer.impute``: monotone objective, fixed-point formulas, options.

Reference values come from the naive per-row formulas in ``conftest.py``
(``np.linalg.solve`` on ``Sigma_OO`` per row; ``scipy.stats.multivariate_normal``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ConvergenceWarning


def _dataset(name: str, airquality: pd.DataFrame, naive) -> pd.DataFrame:
    if name == "airquality":
        return airquality
    if name == "mcar":
        return naive.simulate(200, 5, seed=1, mechanism="mcar", rate=0.25)
    if name == "mar":
        return naive.simulate(300, 6, seed=2, mechanism="mar", rate=0.3)
    if name == "heavy":  # 45% missing, several rows with nothing observed
        df = naive.simulate(120, 4, seed=3, mechanism="mcar", rate=0.45)
        df.iloc[[3, 50, 99], :] = np.nan
        return df
    raise AssertionError(name)


DATASETS = ["airquality", "mcar", "mar", "heavy"]


def _sd_units(a: imputer.ImputeResult, b: imputer.ImputeResult) -> float:
    sd = np.sqrt(np.diag(b.cov.to_numpy()))
    d_mu = np.max(np.abs(a.mean.to_numpy() - b.mean.to_numpy()) / sd)
    d_cov = np.max(np.abs(a.cov.to_numpy() - b.cov.to_numpy()) / np.outer(sd, sd))
    return float(max(d_mu, d_cov))


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("ridge", [0.0, 2.5])
@pytest.mark.parametrize("accelerate", [True, False])
def test_objective_history_is_monotone(name, ridge, accelerate, airquality, naive) -> None:
    df = _dataset(name, airquality, naive)
    res = imputer.impute(df, ridge=ridge, accelerate=accelerate)
    h = res.loglik_history
    assert res.converged
    assert res.n_iter >= 2
    assert h.size == res.n_iter if not accelerate else res.n_iter <= h.size <= 2 * res.n_iter
    assert np.all(np.isfinite(h))
    assert np.all(np.diff(h) >= -1e-10 * np.abs(h[1:])), np.diff(h).min()
    assert h[-1] > h[0]  # the start is not the optimum on any of these data sets
    # the reported objective is the log-likelihood (ridge 0) or log-posterior at each
    # iterate; the final estimate is one EM update past the last entry
    values = df.to_numpy(dtype=float)
    final = naive.logpost(values, res.mean.to_numpy(), res.cov.to_numpy(), ridge)
    assert final >= h[-1] - 1e-9 * abs(h[-1])
    assert final == pytest.approx(h[-1], rel=1e-7)


@pytest.mark.parametrize("name", DATASETS)
def test_completed_cells_are_conditional_means(name, airquality, naive) -> None:
    df = _dataset(name, airquality, naive)
    res = imputer.impute(df)
    values = df.to_numpy(dtype=float)
    filled, var = naive.conditional(values, res.mean.to_numpy(), res.cov.to_numpy())
    got = res.completed.to_numpy(dtype=float)
    np.testing.assert_allclose(got, filled, rtol=1e-10, atol=1e-10 * np.nanstd(values))
    np.testing.assert_allclose(res.conditional_var.to_numpy(), var, rtol=1e-9, atol=1e-12)
    # observed cells bit-for-bit, conditional variance exactly 0 there
    obs = ~np.isnan(values)
    assert np.array_equal(got[obs], values[obs])
    assert np.all(res.conditional_var.to_numpy()[obs] == 0.0)
    assert np.all(res.conditional_var.to_numpy()[~obs] > 0.0)


@pytest.mark.parametrize("name", DATASETS)
def test_loglik_is_observed_data_loglik_at_estimate(name, airquality, naive) -> None:
    df = _dataset(name, airquality, naive)
    res = imputer.impute(df)
    expected = naive.loglik(df.to_numpy(dtype=float), res.mean.to_numpy(), res.cov.to_numpy())
    assert res.loglik == pytest.approx(expected, rel=1e-11)


@pytest.mark.parametrize("name", DATASETS)
def test_estimate_is_an_em_fixed_point(name, airquality, naive) -> None:
    """At the MLE, mu = mean of the completed rows and Sigma = their scatter / n + E[cond cov]."""
    df = _dataset(name, airquality, naive)
    res = imputer.impute(df)
    values = df.to_numpy(dtype=float)
    mu, cov = res.mean.to_numpy(), res.cov.to_numpy()
    filled, _ = naive.conditional(values, mu, cov)
    n = values.shape[0]
    extra = np.zeros_like(cov)
    for row in values:
        m = np.isnan(row)
        if m.any():
            o = ~m
            s_mo = cov[np.ix_(m, o)]
            c = cov[np.ix_(m, m)] - (s_mo @ np.linalg.solve(cov[np.ix_(o, o)], s_mo.T) if o.any() else 0.0)
            extra[np.ix_(m, m)] += c
    mu_next = filled.mean(axis=0)
    dev = filled - mu_next
    cov_next = (dev.T @ dev + extra) / n
    sd = np.sqrt(np.diag(cov))
    assert np.max(np.abs(mu_next - mu) / sd) < 1e-7
    assert np.max(np.abs(cov_next - cov) / np.outer(sd, sd)) < 1e-7


@pytest.mark.parametrize("name", DATASETS)
def test_squarem_and_plain_em_reach_the_same_estimate(name, airquality, naive) -> None:
    df = _dataset(name, airquality, naive)
    fast = imputer.impute(df, tol=1e-10)
    slow = imputer.impute(df, tol=1e-10, accelerate=False, max_iter=10_000)
    assert fast.converged and slow.converged
    assert _sd_units(fast, slow) < 1e-7
    assert fast.loglik == pytest.approx(slow.loglik, rel=1e-10)
    assert fast.n_evals <= slow.n_evals
    assert slow.n_evals == slow.n_iter  # plain EM: one EM map per iteration


def test_default_tolerance_is_close_to_the_fully_converged_estimate(naive) -> None:
    df = naive.simulate(400, 6, seed=7, mechanism="mar", rate=0.4)
    default = imputer.impute(df)
    tight = imputer.impute(df, tol=1e-12, max_iter=10_000)
    assert _sd_units(default, tight) < 1e-6


def test_ridge_is_the_posterior_mode(naive) -> None:
    """With ridge, perturbing the estimate in any direction lowers the log-posterior."""
    df = naive.simulate(60, 4, seed=4, mechanism="mcar", rate=0.3)
    ridge = 6.0
    res = imputer.impute(df, ridge=ridge, tol=1e-11)
    values = df.to_numpy(dtype=float)
    mu, cov = res.mean.to_numpy(), res.cov.to_numpy()
    best = naive.logpost(values, mu, cov, ridge)
    rng = np.random.default_rng(0)
    sd = np.sqrt(np.diag(cov))
    for _ in range(20):
        e = rng.normal(size=(4, 4)) * 1e-3
        d_cov = (e + e.T) * np.outer(sd, sd)
        d_mu = rng.normal(size=4) * 1e-3 * sd
        assert naive.logpost(values, mu + d_mu, cov + d_cov, ridge) < best
    # and the plain likelihood maximiser differs: the prior shrinks correlations
    mle = imputer.impute(df)
    assert np.abs(np.triu(res.corr.to_numpy(), 1)).sum() < np.abs(np.triu(mle.corr.to_numpy(), 1)).sum()


def test_ridge_makes_wide_data_estimable(naive) -> None:
    df = naive.simulate(8, 12, seed=5, mechanism="mcar", rate=0.2)
    res = imputer.impute(df, ridge=4.0)
    assert res.converged
    assert np.linalg.eigvalsh(res.cov.to_numpy())[0] > 0.0
    assert not res.completed.isna().any().any()


def test_no_maximum_warns_and_is_not_converged() -> None:
    """Two rows observe y: the regression of y on x fits them exactly, Var(y | x) -> 0."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    y = np.full(30, np.nan)
    y[[0, 1]] = [1.0, 2.5]
    df = pd.DataFrame({"x": x, "y": y})
    with pytest.warns(ConvergenceWarning, match=r"singular.*no maximum.*Pass ridge > 0"):
        res = imputer.impute(df)
    assert not res.converged
    assert np.all(np.isfinite(res.cov.to_numpy())) and np.isfinite(res.loglik)
    assert not res.completed.isna().any().any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fixed = imputer.impute(df, ridge=1.0)
    assert fixed.converged


def test_collinear_columns_warn() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(size=50)
    df = pd.DataFrame({"a": a, "b": 2.0 * a + 1.0, "c": rng.normal(size=50)})
    df.loc[::7, "c"] = np.nan
    with pytest.warns(ConvergenceWarning, match="singular"):
        res = imputer.impute(df)
    assert not res.converged


def test_max_iter_reached_warns(airquality) -> None:
    with pytest.warns(ConvergenceWarning, match=r"did not converge within max_iter=2"):
        res = imputer.impute(airquality, max_iter=2, accelerate=False)
    assert not res.converged
    assert res.n_iter == 2 and res.loglik_history.size == 2
    assert not res.completed.isna().any().any()


def test_complete_data_gives_sample_moments(naive) -> None:
    df = naive.simulate(50, 3, seed=9, rate=0.0)
    res = imputer.impute(df)
    x = df.to_numpy()
    np.testing.assert_allclose(res.mean.to_numpy(), x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(res.cov.to_numpy(), np.cov(x.T, bias=True), rtol=1e-10)
    assert res.completed.equals(df)
    assert res.converged


def test_unit_invariance(naive) -> None:
    """Rescaling a column rescales its estimates; the fill follows (equivariance)."""
    df = naive.simulate(150, 4, seed=10, mechanism="mar", rate=0.3)
    scaled = df.copy()
    scaled["v2"] = scaled["v2"] * 1e6 + 3e7
    a = imputer.impute(df, tol=1e-11)
    b = imputer.impute(scaled, tol=1e-11)
    assert b.mean["v2"] == pytest.approx(a.mean["v2"] * 1e6 + 3e7, rel=1e-10)
    np.testing.assert_allclose(b.corr.to_numpy(), a.corr.to_numpy(), atol=1e-9)
    np.testing.assert_allclose(b.completed["v2"], a.completed["v2"] * 1e6 + 3e7, rtol=1e-10)
