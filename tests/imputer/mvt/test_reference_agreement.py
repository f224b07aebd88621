"""``imputer.impute_t`` agrees with an independent maximiser of the observed-data t likelihood.

The reference (:mod:`tests.reference.mvt_mle`) maximises the observed-data t
log-likelihood, written with :class:`scipy.stats.multivariate_t` on each row's observed
cells, directly over the location, a Cholesky factor of the scale and ``log nu`` with
BFGS (no EM, no shared code), started from EM's estimate and from the complete-case
estimate (mean and covariance of the complete rows, ``nu = 10``). Then

* the reference never beats EM's log-likelihood by more than ``1e-6``;
* the estimates agree to ``1e-5`` in standard-deviation units of EM's scale:
  ``max_j |mu_j - mu*_j| / sqrt(S_jj)``, ``max_jk |S_jk - S*_jk| / sqrt(S_jj S_kk)``,
  and ``|log nu - log nu*|`` when ``nu`` is estimated;
* EM's reported log-likelihood equals the reference's row-by-row evaluation at EM's
  estimate to ``1e-8``.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

import imputer
from tests.reference.mvt_mle import mvt_mle, observed_loglik

from .conftest import datasets

AGREE = 1e-5  # standard-deviation units (and log nu)
LL_SLACK = 1e-6
LL_EQUAL = 1e-8
DATASETS = ["airquality", "t_mar", "airquality_complete", "t_complete"]
DOFS = [None, 5.0]


@functools.cache
def _fit(name: str, dof: float | None) -> tuple[pd.DataFrame, imputer.TImputeResult]:
    data = datasets()[name]
    return data, imputer.impute_t(data, dof=dof)


@pytest.mark.parametrize("dof", DOFS, ids=["dof-estimated", "dof-fixed"])
@pytest.mark.parametrize("name", DATASETS)
def test_reported_loglik_is_the_reference_evaluation(name: str, dof: float | None) -> None:
    data, res = _fit(name, dof)
    x = data.to_numpy(dtype=float)
    assert res.converged
    ref = observed_loglik(x, res.mean.to_numpy(), res.scale.to_numpy(), res.dof)
    assert res.loglik == pytest.approx(ref, abs=LL_EQUAL)
    assert res.loglik_history[-1] <= res.loglik + 1e-9  # the final estimate is one update past the history


@pytest.mark.slow
@pytest.mark.parametrize("start", ["em", "complete-case"])
@pytest.mark.parametrize("dof", DOFS, ids=["dof-estimated", "dof-fixed"])
@pytest.mark.parametrize("name", DATASETS)
def test_direct_maximisation_agrees(name: str, dof: float | None, start: str) -> None:
    data, res = _fit(name, dof)
    x = data.to_numpy(dtype=float)
    mean, scale = res.mean.to_numpy(), res.scale.to_numpy()
    if start == "em":
        begin = (mean, scale, res.dof)
    else:
        cc = x[~np.isnan(x).any(axis=1)]
        begin = (cc.mean(axis=0), np.cov(cc.T, bias=True), 10.0)
    ref = mvt_mle(x, *begin, fixed_dof=dof)
    assert ref.loglik <= res.loglik + LL_SLACK
    sd = np.sqrt(np.diag(scale))
    assert np.max(np.abs(ref.mean - mean) / sd) < AGREE
    assert np.max(np.abs(ref.scale - scale) / np.outer(sd, sd)) < AGREE
    assert abs(np.log(ref.dof) - np.log(res.dof)) < AGREE
    if dof is not None:
        assert res.dof == ref.dof == dof
