"""``impute_mixture`` against independent computations.

* Complete Old Faithful against R's mclust (``tests/data/mclust/make_fixtures.R``:
  ``Mclust(faithful, G = 2, modelNames = m)`` run to a 1e-14 tolerance, ``m`` in VVV,
  EEE, VVI, VII = full, tied, diag, spherical; values and ``sessionInfo.txt`` beside it).
* Complete Old Faithful against scikit-learn's ``GaussianMixture`` started at the same
  point (``weights_init``, ``means_init``, ``precisions_init``; ``reg_covar=0``, tiny tol).
* Old Faithful with holes against the direct numerical maximisation of the observed-data
  mixture log-likelihood (``tests/reference/mixture_mle.py``: no EM), started from EM's
  estimate moved by 0.1 SD (means) and 10% (covariances).
* Fills and conditional variances against the mixture conditional moments computed by
  hand (``np.linalg.solve`` on each row's observed block, scipy densities).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

import imputer
from tests.imputer.mixture.helpers import COV_TYPES, DATA, fit_from
from tests.reference.mixture_mle import mixture_loglik, mixture_mle

MCLUST = {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}


def _arrays(res: imputer.MixtureImputeResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return res.weights.to_numpy(), res.means.to_numpy(), np.stack([c.to_numpy() for c in res.covs])


def _sorted(weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(means[:, 0])  # components by mean eruption time
    return weights[order], means[order], covs[order]


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_complete_data_matches_mclust(faithful: pd.DataFrame, cov_type: str) -> None:
    ref = json.loads((DATA / "mclust" / f"faithful_{MCLUST[cov_type]}.json").read_text())
    res = imputer.impute_mixture(faithful, 2, covariance_type=cov_type, seed=0, tol=1e-10)
    sd = faithful.std(ddof=0).to_numpy()
    w, m, c = _sorted(*_arrays(res))
    rw, rm, rc = _sorted(np.array(ref["weights"]), np.array(ref["means"]), np.array(ref["covs"]))
    assert res.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert res.n_parameters == ref["df"]
    assert res.bic == pytest.approx(-ref["bic_mclust"], abs=1e-5)  # mclust's BIC is the negative
    np.testing.assert_allclose(w, rw, atol=1e-6)
    np.testing.assert_allclose(m / sd, rm / sd, atol=1e-6)
    np.testing.assert_allclose(c / np.outer(sd, sd), rc / np.outer(sd, sd), atol=1e-6)
    assert res.converged


def test_mclust_fixture_is_the_issue_value() -> None:
    # issue 10 quotes Mclust(faithful, G=2, modelNames="VVV"): loglik -1130.26396018, weights 0.64412713217 / 0.35587286783
    ref = json.loads((DATA / "mclust" / "faithful_VVV.json").read_text())
    assert ref["loglik"] == pytest.approx(-1130.26396018, abs=1e-8)
    assert sorted(ref["weights"]) == pytest.approx([0.35587286783, 0.64412713217], abs=1e-7)


def _sklearn_precisions(cov_type: str, covs: np.ndarray) -> np.ndarray:
    prec = np.linalg.inv(covs)
    if cov_type == "full":
        return prec
    if cov_type == "tied":
        return prec[0]
    if cov_type == "diag":
        return np.diagonal(prec, axis1=1, axis2=2).copy()
    return prec[:, 0, 0].copy()


def _sklearn_covs(cov_type: str, gm, k: int, p: int) -> np.ndarray:
    c = gm.covariances_
    if cov_type == "full":
        return c
    if cov_type == "tied":
        return np.repeat(c[None], k, axis=0)
    if cov_type == "diag":
        return np.stack([np.diag(v) for v in c])
    return np.stack([v * np.eye(p) for v in c])


#: (weights, means, covs) in original units: a rough start away from the optimum. (With K = 3
#: the likelihood is flat along some directions: plain EM in scikit-learn stalls ~1e-5 SD
#: from the maximum with equal log-likelihoods to 1e-12, so K = 3 is not compared here.)
START = (
    np.array([0.5, 0.5]),
    np.array([[2.5, 60.0], [4.0, 75.0]]),
    np.array([[[0.5, 2.0], [2.0, 60.0]], [[0.4, 1.0], [1.0, 50.0]]]),
)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_complete_data_matches_sklearn_from_the_same_start(faithful: pd.DataFrame, cov_type: str) -> None:
    from sklearn.mixture import GaussianMixture

    w0, m0, c0 = START
    k, p = 2, 2
    if cov_type == "tied":
        c0 = np.repeat(c0.mean(axis=0)[None], k, axis=0)
    elif cov_type == "diag":
        c0 = np.stack([np.diag(np.diag(c)) for c in c0])
    elif cov_type == "spherical":
        c0 = np.stack([20.0 * np.eye(p) for _ in c0])
    x = faithful.to_numpy(float)
    gm = GaussianMixture(
        k, covariance_type=cov_type, tol=1e-14, reg_covar=0.0, max_iter=100_000,
        weights_init=w0, means_init=m0, precisions_init=_sklearn_precisions(cov_type, c0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn may say it stopped at max_iter; its final point is what we compare
        gm.fit(x)
    w, m, c, loglik, fit = fit_from(faithful, cov_type, (w0, m0, c0))
    sd = x.std(axis=0)
    assert fit.converged
    assert loglik == pytest.approx(gm.score(x) * len(x), abs=1e-6)
    np.testing.assert_allclose(w, gm.weights_, atol=1e-6)
    np.testing.assert_allclose(m / sd, gm.means_ / sd, atol=1e-6)
    np.testing.assert_allclose(c / np.outer(sd, sd), _sklearn_covs(cov_type, gm, k, p) / np.outer(sd, sd), atol=1e-6)


@pytest.fixture(scope="module", params=COV_TYPES)
def direct(request: pytest.FixtureRequest, faithful_holes: pd.DataFrame):
    cov_type = request.param
    res = imputer.impute_mixture(faithful_holes, 2, covariance_type=cov_type, seed=1, tol=1e-10)
    x = faithful_holes.to_numpy(float)
    sd = np.nanstd(x, axis=0)
    w, m, c = _arrays(res)
    ref = mixture_mle(x, cov_type, (w, m + 0.1 * sd, 1.1 * c))
    return res, x, sd, ref


def test_missing_data_em_is_the_direct_maximum(direct) -> None:
    res, x, sd, (rw, rm, rc, rll) = direct
    w, m, c = _arrays(res)
    assert rll <= res.loglik + 1e-6  # the direct maximisation never does better
    np.testing.assert_allclose(rw, w, atol=1e-5)
    np.testing.assert_allclose(rm / sd, m / sd, atol=1e-5)
    np.testing.assert_allclose(rc / np.outer(sd, sd), c / np.outer(sd, sd), atol=1e-5)


def test_missing_data_reported_loglik_is_the_reference_evaluation(direct) -> None:
    res, x, _, _ = direct
    assert res.loglik == pytest.approx(mixture_loglik(x, *_arrays(res)), abs=1e-8)


def _by_hand(row: np.ndarray, w: np.ndarray, m: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Responsibilities, mixture conditional mean and variance of one row's missing cells."""
    o = ~np.isnan(row)
    miss = ~o
    dens = np.array([w[k] * multivariate_normal.pdf(row[o], m[k][o], c[k][np.ix_(o, o)]) for k in range(w.size)])
    r = dens / dens.sum()
    cm, cv = [], []
    for k in range(w.size):
        s_mo = c[k][np.ix_(miss, o)]
        cm.append(m[k][miss] + s_mo @ np.linalg.solve(c[k][np.ix_(o, o)], row[o] - m[k][o]))
        cv.append(np.diag(c[k][np.ix_(miss, miss)] - s_mo @ np.linalg.solve(c[k][np.ix_(o, o)], s_mo.T)))
    cm_a, cv_a = np.array(cm), np.array(cv)
    mean = r @ cm_a
    return r, mean, r @ (cv_a + cm_a**2) - mean**2


def test_fills_and_variances_are_the_mixture_conditional_moments(direct) -> None:
    res, x, _, _ = direct
    w, m, c = _arrays(res)
    incomplete = np.flatnonzero(np.isnan(x).any(axis=1))
    rows = incomplete[[0, 1, 2, len(incomplete) // 2, -1]]
    completed = res.completed.to_numpy()
    var = res.conditional_var.to_numpy()
    resp = res.responsibilities.to_numpy()
    for i in rows:
        r, mean, v = _by_hand(x[i], w, m, c)
        miss = np.isnan(x[i])
        np.testing.assert_allclose(resp[i], r, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(completed[i, miss], mean, rtol=1e-12)
        np.testing.assert_allclose(var[i, miss], v, rtol=1e-9)
        assert (var[i, ~miss] == 0).all()
