r"""Independent reference: observed information of a multivariate normal by finite differences.

Test-only. Shares no code with :mod:`imputer` (no patterns, no precision-matrix
updates, no per-pattern statistics): the observed-data log-likelihood is written down
row by row,

.. math::

    \ell(\mu, \Sigma) = \sum_i \log N(x_{i,O_i};\ \mu_{O_i}, \Sigma_{O_iO_i})

(``scipy.stats.multivariate_normal``, :func:`loglik`), and its textbook gradient row by
row (:func:`gradient`): with ``K = Sigma_OO^-1`` and ``e = x_O - mu_O``,
``d/d mu_O = K e`` and ``d/d Sigma_OO = (K e e' K - K) / 2`` (as a symmetric-matrix
derivative; an off-diagonal ``vech`` entry ``Sigma_ab``, ``a < b``, gets twice the
``(a, b)`` element). The optional log prior of ``ridge = lambda > 0`` is
``-(lambda/2)[log|Sigma| + tr(Sigma^-1 D)]``, ``D`` the diagonal of the observed
variances (divisor ``n_j``), with gradient ``-(lambda/2)(K - K D K)``. With
``prior="amelia"`` (Amelia's ``empri``) it is ``-((lambda + p + 2)/2) log|Sigma| -
(lambda/2) tr(Sigma^-1 D)`` with ``D`` the sample variances (divisor ``n_j - 1``), gradient
``-((lambda + p + 2)/2) K + (lambda/2) K D K``: the log-posterior whose mode is Amelia's
M-step ``(A + lambda D) / (n + lambda + p + 2)`` (Amelia's ``src/em.cpp``).

The parameter vector is ``theta = (mu, vech Sigma)``, ``vech`` the upper triangle row by
row. The Hessian (:func:`hessian`) is the central finite difference of the gradient,
``H_.j = (g(theta + h e_j) - g(theta - h e_j)) / (2h)`` with Richardson extrapolation
over ``h`` and ``h/2`` (error ``O(h^4)``), symmetrised. The gradient itself is checked
against central differences of :func:`loglik` in the tests.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import multivariate_normal

__all__ = ["gradient", "hessian", "log_posterior", "loglik", "pack", "unpack"]


def pack(mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """``(mu, vech Sigma)`` with ``vech`` the upper triangle, row-major."""
    return np.concatenate([mean, cov[np.triu_indices(mean.size)]])


def unpack(theta: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack`."""
    cov = np.zeros((p, p))
    cov[np.triu_indices(p)] = theta[p:]
    cov = cov + np.triu(cov, 1).T
    return theta[:p].copy(), cov


def _prior_scale(values: np.ndarray, prior: str = "ridge") -> np.ndarray:
    # divisor n_j (the observed variances), or n_j - 1 for Amelia's scale
    return np.nanvar(values, axis=0, ddof=1 if prior == "amelia" else 0)


def _logdet_weight(ridge: float, p: int, prior: str) -> float:
    return ridge + p + 2.0 if prior == "amelia" else ridge


def loglik(values: np.ndarray, theta: np.ndarray, ridge: float = 0.0, prior: str = "ridge") -> float:
    """Observed-data log-likelihood (plus the ridge log prior), one row at a time."""
    p = values.shape[1]
    mean, cov = unpack(theta, p)
    total = 0.0
    for row in values:
        o = ~np.isnan(row)
        if o.any():
            total += float(multivariate_normal(mean[o], cov[np.ix_(o, o)]).logpdf(row[o]))
    if ridge > 0.0:
        d = _prior_scale(values, prior)
        total -= 0.5 * _logdet_weight(ridge, p, prior) * np.linalg.slogdet(cov)[1]
        total -= 0.5 * ridge * float(np.trace(np.linalg.solve(cov, np.diag(d))))
    return total


log_posterior = loglik


def gradient(values: np.ndarray, theta: np.ndarray, ridge: float = 0.0, prior: str = "ridge") -> np.ndarray:
    """Gradient of :func:`loglik` with respect to ``theta``, one row at a time."""
    p = values.shape[1]
    mean, cov = unpack(theta, p)
    g_mu = np.zeros(p)
    g_sig = np.zeros((p, p))
    for row in values:
        o = ~np.isnan(row)
        if not o.any():
            continue
        k = np.linalg.inv(cov[np.ix_(o, o)])
        e = row[o] - mean[o]
        ke = k @ e
        g_mu[o] += ke
        g_sig[np.ix_(o, o)] += 0.5 * (np.outer(ke, ke) - k)
    if ridge > 0.0:
        k = np.linalg.inv(cov)
        d = np.diag(_prior_scale(values, prior))
        g_sig -= 0.5 * (_logdet_weight(ridge, p, prior) * k - ridge * k @ d @ k)
    a, b = np.triu_indices(p)
    return np.concatenate([g_mu, g_sig[a, b] * np.where(a == b, 1.0, 2.0)])


def hessian(
    values: np.ndarray, theta: np.ndarray, ridge: float = 0.0, rel_step: float = 1e-3, prior: str = "ridge"
) -> np.ndarray:
    """Hessian of :func:`loglik` by central differences of :func:`gradient` (Richardson-extrapolated).

    The step for ``theta_j`` is ``rel_step`` times the scale of the parameter: the
    standard deviation of the column for a mean, ``sqrt(Sigma_aa Sigma_bb)`` for a
    covariance entry.
    """
    p = values.shape[1]
    _, cov = unpack(theta, p)
    sd = np.sqrt(np.diag(cov))
    a, b = np.triu_indices(p)
    scale = np.concatenate([sd, sd[a] * sd[b]])
    k = theta.size
    out = np.empty((k, k))

    def diff(j: int, h: float) -> np.ndarray:
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        return (gradient(values, up, ridge, prior) - gradient(values, down, ridge, prior)) / (2.0 * h)

    for j in range(k):
        h = rel_step * scale[j]
        out[:, j] = (4.0 * diff(j, h / 2.0) - diff(j, h)) / 3.0
    return 0.5 * (out + out.T)
