"""EMImputer(model="t" | "mixture"): the fit is the library's, the fills are the model's conditional means.

Fitted attributes are checked against :func:`imputer.impute_t` / :func:`imputer.impute_mixture`
on the same data (and transform/conditional_variance of the training rows against their
``completed`` / ``conditional_var``); fills and variances of new rows against the formulas
written out here with numpy and scipy: for the t the normal's conditional mean at
``(mean_, scale_)`` and ``(nu + d^2)/(nu + p_o - 2)`` times the normal's variance; for the
mixture responsibilities ``pi_k N(x_o; mu_ko, S_koo)`` normalised, the mean
``sum_k r_k E_k[x_m | x_o]`` and the variance by the law of total variance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

import imputer
from imputer.errors import ImputerValueError
from tests.imputer.mixture.helpers import DATA, with_holes
from tests.imputer.mvn.test_estimator import Est, air  # noqa: F401  (fixtures: both base classes, airquality)


@pytest.fixture(scope="module")
def faithful() -> pd.DataFrame:
    return with_holes(pd.read_csv(DATA / "faithful.csv"), 40, 0)


def _cond(row: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Normal conditional mean (row filled), conditional variances (0 observed) and d^2 of the observed part."""
    o = ~np.isnan(row)
    m = ~o
    mean, var = row.copy(), np.zeros(row.size)
    if not o.any():
        return mu.copy(), np.diag(cov).copy(), 0.0
    sol = np.linalg.solve(cov[np.ix_(o, o)], cov[np.ix_(o, m)])
    mean[m] = mu[m] + sol.T @ (row[o] - mu[o])
    var[m] = np.diag(cov[np.ix_(m, m)] - cov[np.ix_(m, o)] @ sol)
    d2 = float((row[o] - mu[o]) @ np.linalg.solve(cov[np.ix_(o, o)], row[o] - mu[o]))
    return mean, var, d2


def _mixture_by_hand(row: np.ndarray, w: np.ndarray, means: np.ndarray, covs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    o = ~np.isnan(row)
    dens = np.array([
        multivariate_normal(means[k][o], covs[k][np.ix_(o, o)]).pdf(row[o]) if o.any() else 1.0 for k in range(w.size)
    ])
    r = w * dens / (w * dens).sum()
    parts = [_cond(row, means[k], covs[k]) for k in range(w.size)]
    mean = sum(r[k] * parts[k][0] for k in range(w.size))
    second = sum(r[k] * (parts[k][1] + parts[k][0] ** 2) for k in range(w.size))
    var = np.where(o, 0.0, second - mean**2)
    return mean, var


NEW_ROWS = np.array([
    [np.nan, 200.0, 9.0, 80.0],
    [40.0, np.nan, np.nan, 70.0],
    [np.nan, np.nan, np.nan, np.nan],
    [150.0, np.nan, 3.0, np.nan],  # an outlying ozone
    [30.0, 100.0, 10.0, 75.0],
])


@pytest.mark.parametrize("dof", [None, 4.0, 1.5], ids=["estimated", "fixed", "below-2"])
def test_t_fit_is_impute_t_and_fills_are_its_conditional_means(Est: type, air: pd.DataFrame, dof: float | None) -> None:  # noqa: F811
    est = Est(model="t", dof=dof).fit(air)
    res = imputer.impute_t(air, dof=dof)
    np.testing.assert_array_equal(est.mean_, res.mean.to_numpy())
    np.testing.assert_array_equal(est.scale_, res.scale.to_numpy())
    np.testing.assert_array_equal(est.covariance_, res.cov.to_numpy())  # NaN when dof <= 2
    assert est.dof_ == res.dof and est.loglik_ == res.loglik and est.n_iter_ == res.n_iter and est.model_ == "t"
    np.testing.assert_array_equal(est.row_weights_, res.row_weights.to_numpy())
    np.testing.assert_allclose(est.transform(air), res.completed.to_numpy(), rtol=1e-13)
    np.testing.assert_allclose(est.conditional_variance(air), res.conditional_var.to_numpy(), rtol=1e-10)
    filled, var = est.transform(NEW_ROWS), est.conditional_variance(NEW_ROWS)
    for row, f, v in zip(NEW_ROWS, filled, var, strict=True):
        mean, nvar, d2 = _cond(row, est.mean_, est.scale_)
        p_o = int((~np.isnan(row)).sum())
        factor = (est.dof_ + d2) / (est.dof_ + p_o - 2) if est.dof_ + p_o > 2 else np.nan
        np.testing.assert_allclose(f, mean, rtol=1e-12)
        np.testing.assert_array_equal(f[~np.isnan(row)], row[~np.isnan(row)])  # observed bit-for-bit
        np.testing.assert_allclose(v[np.isnan(row)], factor * nvar[np.isnan(row)], rtol=1e-10)
        assert np.all(v[~np.isnan(row)] == 0.0)


@pytest.mark.parametrize(
    "options",
    [{"seed": 1}, {"n_components": [1, 2, 3], "covariance_type": "diag", "n_init": 3, "seed": 2},
     {"n_components": 3, "covariance_type": "tied", "seed": 3}, {"covariance_type": "spherical", "ridge": 1.0, "seed": 4}],
    ids=["full", "bic-diag", "tied-K3", "spherical-ridge"],
)
def test_mixture_fit_is_impute_mixture_and_fills_are_its_conditional_means(
    Est: type, faithful: pd.DataFrame, options: dict[str, Any]  # noqa: F811
) -> None:
    est = Est(model="mixture", **options).fit(faithful)
    res = imputer.impute_mixture(faithful, **options)
    np.testing.assert_array_equal(est.weights_, res.weights.to_numpy())
    np.testing.assert_array_equal(est.means_, res.means.to_numpy())
    np.testing.assert_array_equal(est.covariances_, np.stack([c.to_numpy() for c in res.covs]))
    assert est.n_components_ == res.n_components and est.bic_ == res.bic and est.loglik_ == res.loglik
    assert (est.bic_table_ is None) == (res.bic_table is None)
    np.testing.assert_allclose(est.mean_, est.weights_ @ est.means_, rtol=1e-14)
    np.testing.assert_allclose(est.transform(faithful), res.completed.to_numpy(), rtol=1e-13)
    np.testing.assert_allclose(est.conditional_variance(faithful), res.conditional_var.to_numpy(), rtol=1e-9, atol=1e-10)
    rows = np.array([[np.nan, 50.0], [4.5, np.nan], [np.nan, np.nan], [3.0, np.nan], [2.0, 60.0], [np.nan, 72.0]])
    filled, var = est.transform(rows), est.conditional_variance(rows)
    for row, f, v in zip(rows, filled, var, strict=True):
        mean, hvar = _mixture_by_hand(row, est.weights_, est.means_, est.covariances_)
        np.testing.assert_allclose(f, mean, rtol=1e-10)
        np.testing.assert_array_equal(f[~np.isnan(row)], row[~np.isnan(row)])
        np.testing.assert_allclose(v, hvar, rtol=1e-8, atol=1e-10)
    # the marginal covariance is the law of total variance: the variance of a row with nothing observed
    np.testing.assert_allclose(var[2], np.diag(est.covariance_), rtol=1e-10)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"model": "cauchy"}, r"EMImputer: model must be 'normal', 't' or 'mixture', got 'cauchy'"),
        ({"dof": 4.0}, r"EMImputer: dof applies to model='t' only, not model='normal'"),
        ({"model": "mixture", "dof": 4.0}, r"EMImputer: dof applies to model='t' only, not model='mixture'"),
        ({"model": "mixture", "accelerate": False}, r"accelerate=False applies to model='normal' or 't'"),
        ({"model": "t", "dof": 0.0}, r"dof"),
        ({"model": "mixture", "n_components": 0}, r"n_components must be >= 1, got 0"),
        ({"model": "mixture", "covariance_type": "VVV"}, r"covariance_type must be one of"),
    ],
)
def test_bad_model_parameters(Est: type, air: pd.DataFrame, params: dict[str, Any], match: str) -> None:  # noqa: F811
    with pytest.raises(ImputerValueError, match=match):
        Est(**params).fit(air)


def test_refit_with_another_model_drops_the_old_attributes(Est: type, air: pd.DataFrame) -> None:  # noqa: F811
    est = Est(model="t").fit(air)
    assert hasattr(est, "scale_")
    est.set_params(model="mixture", seed=0).fit(air)
    assert not hasattr(est, "scale_") and est.model_ == "mixture" and est.weights_.size == 2
    est.set_params(model="normal", seed=None).fit(air)
    assert not hasattr(est, "weights_") and est.model_ == "normal"
    np.testing.assert_allclose(est.transform(air), imputer.impute(air).completed.to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("params", [{"model": "t"}, {"model": "mixture", "seed": 0, "n_init": 2}], ids=["t", "mixture"])
def test_sklearn_check_estimator_and_pipeline(air: pd.DataFrame, params: dict[str, Any]) -> None:  # noqa: F811
    pytest.importorskip("sklearn", minversion="1.6")
    from sklearn.base import clone
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.utils.estimator_checks import check_estimator

    from imputer import EMImputer

    results = check_estimator(EMImputer(**params), on_fail=None)
    failed = {r["check_name"]: r["exception"] for r in results if r["status"] == "failed"}
    assert not failed, failed
    est = clone(EMImputer(**params))
    assert est.get_params() == EMImputer(**params).get_params()
    X, y = air[["Ozone", "Solar.R", "Wind"]], air["Temp"]
    pipe = make_pipeline(EMImputer(**params), LinearRegression()).fit(X, y)
    filled = EMImputer(**params).fit(X).transform(X)
    np.testing.assert_allclose(pipe.predict(X), LinearRegression().fit(filled, y).predict(filled), rtol=1e-12)
