r"""A plain row-by-row Gibbs sampler for the multivariate normal with missing values (test only).

Independent of the engine (no layout, no standardisation, no pattern grouping): the
textbook data augmentation of Schafer (1997, sec. 5.4) in the data's own units.

* I-step, row by row: ``x_M | x_O ~ N(mu_M + S_MO S_OO^{-1}(x_O - mu_O),
  S_MM - S_MO S_OO^{-1} S_OM)`` with ``np.linalg.solve``, drawn as mean + ``chol(cov) e``.
* P-step: ``Sigma | X ~ W^{-1}(n + lambda - 1, A + lambda D)`` with ``scipy.stats.invwishart``
  (``A`` the centred cross-products of the completed rows, ``D`` the diagonal of the
  observed cells' variances, divisor ``n_j``), then ``mu | Sigma ~ N(xbar, Sigma / n)``:
  the posterior under ``pi(mu, Sigma) propto |Sigma|^{-(p+1+lambda)/2}
  exp(-tr(lambda D Sigma^{-1})/2)`` (Jeffreys when ``lambda = 0``).

Start: the column means and the diagonal of the observed variances.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import invwishart


def gibbs_chain(x: np.ndarray, n_iter: int, *, ridge: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Run ``n_iter`` iterations; return the drawn means (n_iter, p) and covariances (n_iter, p, p).

    Parameters
    ----------
    x : ndarray, shape (n, p)
        NaN where missing.
    n_iter : int
    ridge : float
        ``lambda`` of the prior.
    seed : int
    """
    rng = np.random.default_rng(seed)
    x = np.array(x, dtype=float)
    n, p = x.shape
    miss = np.isnan(x)
    obs_mean = np.nanmean(x, axis=0)
    d = np.diag(np.nanvar(x, axis=0))
    mu, sigma = obs_mean.copy(), d.copy()
    z = np.where(miss, obs_mean, x)
    mus = np.empty((n_iter, p))
    sigmas = np.empty((n_iter, p, p))
    for t in range(n_iter):
        for i in range(n):
            m = miss[i]
            if not m.any():
                continue
            o = ~m
            if o.any():
                s_oo = sigma[np.ix_(o, o)]
                s_mo = sigma[np.ix_(m, o)]
                mean = mu[m] + s_mo @ np.linalg.solve(s_oo, x[i, o] - mu[o])
                cov = sigma[np.ix_(m, m)] - s_mo @ np.linalg.solve(s_oo, s_mo.T)
            else:
                mean, cov = mu, sigma
            z[i, m] = mean + np.linalg.cholesky(cov) @ rng.standard_normal(int(m.sum()))
        zbar = z.mean(axis=0)
        a = (z - zbar).T @ (z - zbar)
        sigma = np.atleast_2d(invwishart(df=n + ridge - 1, scale=a + ridge * d).rvs(random_state=rng))
        mu = zbar + np.linalg.cholesky(sigma / n) @ rng.standard_normal(p)
        mus[t] = mu
        sigmas[t] = sigma
    return mus, sigmas


def batch_means_se(draws: np.ndarray, n_batches: int = 25) -> np.ndarray:
    """Monte-Carlo standard error of the mean of a chain by batch means, per column of ``draws`` (t, k)."""
    draws = np.asarray(draws, dtype=float)
    t = draws.shape[0] - draws.shape[0] % n_batches
    batches = draws[:t].reshape(n_batches, t // n_batches, -1).mean(axis=1)
    return batches.std(axis=0, ddof=1) / np.sqrt(n_batches)
