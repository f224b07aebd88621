r"""Independent reference: Gaussian-mixture MLE with missing values by direct maximisation.

Test-only. Shares no code and no algorithm with :mod:`imputer.mixture` (no EM, no
responsibilities, no conditional expectations): the observed-data log-likelihood is
written down and maximised numerically with :mod:`scipy.optimize`.

Model
-----
Row ``x_i`` comes from component ``k`` with probability ``pi_k`` and is then
``N(mu_k, Sigma_k)``; cells are missing at random, row ``i`` observing the set ``o_i``:

.. math::

    \ell = \sum_i \log \sum_k \pi_k\, N(x_{i,o_i}; \mu_{k,o_i}, \Sigma_{k,o_io_i})

(constants included; a row with nothing observed contributes 0). The marginal
densities are scipy's ``multivariate_normal.logpdf`` of each row's observed cells (rows
grouped by their observed set, so that one call serves the rows of a set), combined by
``scipy.special.logsumexp``.

Parameterisation
----------------
Unconstrained: ``pi = softmax(0, a_2, ..., a_K)``; means free; covariances in the
working units ``z_j = (x_j - c_j) / s_j`` (column mean and SD of the observed cells, an
affine change that changes nothing but the conditioning) as

* ``full``: ``Sigma_k = L_k L_k'``, ``L_k`` lower triangular with ``exp`` diagonal;
* ``tied``: one such ``L``;
* ``diag``: ``Sigma_k = diag(exp(t_k))``;
* ``spherical``: ``Sigma_k = exp(t_k) diag(1/s_j^2)`` (spherical in the original units).

The objective is ``-ell / n``, minimised by BFGS with central-difference gradients
(``jac="3-point"``) to ``gtol = 1e-10``.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special, stats

__all__ = ["mixture_loglik", "mixture_mle"]


def mixture_loglik(x: np.ndarray, weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> float:
    """Observed-data mixture log-likelihood of ``x`` (shape (n, p), NaN = missing).

    ``weights`` (K,), ``means`` (K, p), ``covs`` (K, p, p), original units.
    """
    obs = ~np.isnan(x)
    keys, inverse = np.unique(obs, axis=0, return_inverse=True)
    total = 0.0
    for g, o in enumerate(keys):
        if not o.any():
            continue
        rows = x[np.asarray(inverse).reshape(-1) == g][:, o]
        dens = np.column_stack(
            [
                np.log(weights[k]) + np.atleast_1d(stats.multivariate_normal.logpdf(rows, means[k][o], covs[k][np.ix_(o, o)]))
                for k in range(weights.size)
            ]
        )
        total += float(special.logsumexp(dens, axis=1).sum())
    return total


class _Param:
    def __init__(self, cov_type: str, k: int, p: int, scale: np.ndarray) -> None:
        self.cov_type, self.k, self.p, self.scale = cov_type, k, p, scale
        self.tril = np.tril_indices(p)
        self.n_chol = self.tril[0].size
        self.n_cov = {"full": k * self.n_chol, "tied": self.n_chol, "diag": k * p, "spherical": k}[cov_type]

    def _chol_to(self, v: np.ndarray) -> np.ndarray:
        L = np.zeros((self.p, self.p))
        L[self.tril] = v
        d = np.arange(self.p)
        L[d, d] = np.exp(L[d, d])
        return L @ L.T

    def _chol_from(self, sigma: np.ndarray) -> np.ndarray:
        L = np.linalg.cholesky(sigma)
        d = np.arange(self.p)
        L[d, d] = np.log(L[d, d])
        return L[self.tril]

    def to_params(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(weights, means, covs)`` in working units."""
        k, p = self.k, self.p
        a = np.concatenate([[0.0], theta[: k - 1]])
        weights = np.exp(a - special.logsumexp(a))
        means = theta[k - 1 : k - 1 + k * p].reshape(k, p)
        c = theta[k - 1 + k * p :]
        if self.cov_type == "full":
            covs = np.stack([self._chol_to(c[j * self.n_chol : (j + 1) * self.n_chol]) for j in range(k)])
        elif self.cov_type == "tied":
            covs = np.repeat(self._chol_to(c)[None], k, axis=0)
        elif self.cov_type == "diag":
            covs = np.stack([np.diag(np.exp(c[j * p : (j + 1) * p])) for j in range(k)])
        else:
            covs = np.stack([np.exp(c[j]) * np.diag(1.0 / self.scale**2) for j in range(k)])
        return weights, means, covs

    def from_params(self, weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
        """Unconstrained vector of parameters in working units."""
        a = np.log(weights[1:]) - np.log(weights[0])
        if self.cov_type == "full":
            c = np.concatenate([self._chol_from(s) for s in covs])
        elif self.cov_type == "tied":
            c = self._chol_from(covs[0])
        elif self.cov_type == "diag":
            c = np.log(np.diagonal(covs, axis1=1, axis2=2)).reshape(-1)
        else:
            c = np.log(covs[:, 0, 0] * self.scale[0] ** 2)
        return np.concatenate([a, means.reshape(-1), c])


def mixture_mle(
    x: np.ndarray, cov_type: str, start: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Maximise the observed-data mixture log-likelihood from ``start``.

    Parameters
    ----------
    x : ndarray, shape (n, p)
        Data in original units, NaN where missing.
    cov_type : {"full", "tied", "diag", "spherical"}
    start : (weights (K,), means (K, p), covs (K, p, p))
        Starting point, original units (its component order is kept).

    Returns
    -------
    weights (K,), means (K, p), covs (K, p, p), loglik
        The maximiser in original units and its log-likelihood.
    """
    n, p = x.shape
    c = np.nanmean(x, axis=0)
    s = np.nanstd(x, axis=0)
    z = (x - c) / s
    w0, m0, s0 = start
    k = w0.size
    par = _Param(cov_type, k, p, s)
    theta0 = par.from_params(np.asarray(w0, float), (np.asarray(m0) - c) / s, np.asarray(s0) / np.outer(s, s))

    def f(theta: np.ndarray) -> float:
        w, m, cv = par.to_params(theta)
        try:
            return -mixture_loglik(z, w, m, cv) / n
        except (np.linalg.LinAlgError, ValueError):
            return np.inf

    res = optimize.minimize(f, theta0, method="BFGS", jac="3-point", options={"gtol": 1e-10, "maxiter": 10000})
    w, m, cv = par.to_params(res.x)
    means = c + s * m
    covs = cv * np.outer(s, s)
    return w, means, covs, mixture_loglik(x, w, means, covs)
