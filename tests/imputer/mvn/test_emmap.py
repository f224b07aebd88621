"""imputer.mvn._emmap: the MVN EM map and the final evaluation, against row-by-row formulas."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from imputer._gaussian.layout import build_layout
from imputer._gaussian.linalg import Infeasible
from imputer.mvn._emmap import em_update, evaluate


def _data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = 4
    a = rng.normal(size=(p, p))
    cov = a @ a.T / p + np.eye(p)
    x = rng.multivariate_normal(np.zeros(p), cov, size=200)
    x[rng.random(x.shape) < 0.25] = np.nan
    return x, 0.1 * rng.normal(size=p), cov * 1.1


def _naive(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray, float, float]:
    """One EM update and the log-likelihood / log-posterior (prior scale I) at its input."""
    n, p = x.shape
    zhat = np.empty_like(x)
    cond = np.zeros((p, p))
    ll = 0.0
    for i, row in enumerate(x):
        m = np.isnan(row)
        o = ~m
        zhat[i] = row
        if o.any():
            ll += float(multivariate_normal(mu[o], sigma[np.ix_(o, o)]).logpdf(row[o]))
        if m.any():
            reg = sigma[np.ix_(m, o)] @ np.linalg.inv(sigma[np.ix_(o, o)]) if o.any() else np.zeros((m.sum(), 0))
            zhat[i, m] = mu[m] + reg @ (row[o] - mu[o])
            cond[np.ix_(m, m)] += sigma[np.ix_(m, m)] - reg @ sigma[np.ix_(o, m)]
    mu_new = zhat.mean(axis=0)
    d = zhat - mu_new
    sigma_new = (d.T @ d + cond + ridge * np.eye(p)) / (n + ridge)
    logpost = ll - 0.5 * ridge * (np.linalg.slogdet(sigma)[1] + np.trace(np.linalg.inv(sigma)))
    return mu_new, sigma_new, ll, logpost


@pytest.mark.parametrize(("seed", "ridge"), [(0, 0.0), (1, 0.0), (2, 3.0)])
def test_em_update_is_one_em_step(seed, ridge) -> None:
    x, mu, sigma = _data(seed)
    upd = em_update(build_layout(x), mu, sigma, ridge)
    mu_new, sigma_new, ll, logpost = _naive(x, mu, sigma, ridge)
    np.testing.assert_allclose(upd.mu, mu_new, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(upd.sigma, sigma_new, rtol=1e-9, atol=1e-12)
    assert upd.loglik == pytest.approx(ll, rel=1e-10)
    assert upd.objective == pytest.approx(logpost, rel=1e-10)


@pytest.mark.parametrize("ridge", [0.0, 3.0])
def test_evaluate_completes_every_row(ridge) -> None:
    x, mu, sigma = _data(0)
    data = build_layout(x)
    ev = evaluate(data, mu, sigma, ridge)
    _, _, ll, logpost = _naive(x, mu, sigma, ridge)
    assert (ev.loglik, ev.objective) == (pytest.approx(ll, rel=1e-10), pytest.approx(logpost, rel=1e-10))
    inc = data.patterns.incomplete_rows
    for row, done in zip(x[inc], data.work):
        m = np.isnan(row)
        o = ~m
        expected = mu[m] + sigma[np.ix_(m, o)] @ np.linalg.solve(sigma[np.ix_(o, o)], row[o] - mu[o])
        np.testing.assert_allclose(done[m], expected, rtol=1e-9, atol=1e-12)
    assert [d.shape for d in ev.cond_diag] == [(g.n_patterns, g.n_miss) for g in data.patterns.groups]


@pytest.mark.parametrize("fn", [em_update, evaluate])
def test_invalid_covariance_is_infeasible(fn) -> None:
    x, mu, sigma = _data(0)
    with pytest.raises(Infeasible):
        fn(build_layout(x), mu, -sigma, 0.0)
