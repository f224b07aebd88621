"""Independent reference: multivariate-t MLE with missing values by direct maximisation.

Test-only. Shares no code and no algorithm with :mod:`imputer.mvt` (no EM, no weights,
no conditional expectations): the observed-data log-likelihood is evaluated with
:class:`scipy.stats.multivariate_t` on each row's observed cells and maximised with
:func:`scipy.optimize.minimize`.

Model
-----
Rows ``x_i`` (length ``p``) are i.i.d. ``t_p(mu, Sigma, nu)``; cells are missing at
random. Row ``i`` observes the index set ``o_i`` and its observed part is
``t_{|o_i|}(mu_o, Sigma_oo, nu)``, so

.. math::

    \\ell(\\mu, \\Sigma, \\nu) = \\sum_i \\log t_{|o_i|}(x_{i,o_i}; \\mu_{o_i}, \\Sigma_{o_i o_i}, \\nu)

(constants included; rows with nothing observed contribute 0).

Parameterisation and numerics
-----------------------------
The columns are centred and scaled by their observed mean and standard deviation (the
MLE is affine-equivariant). Free parameters: ``mu``, ``Sigma = L L^T`` with ``L`` lower
triangular and ``L_jj = exp(theta_j)``, and ``log nu`` (absent when ``nu`` is fixed). The
objective ``-ell / n`` is minimised by BFGS with a central-difference gradient (step
``1e-6``), restarted from its own end until it stops improving. :func:`observed_loglik`
evaluates the log-likelihood one row at a time (the slow, plain form); the optimiser
uses the same density a missingness pattern at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize
from scipy.stats import multivariate_t

__all__ = ["TMLEResult", "mvt_mle", "observed_loglik"]


@dataclass(frozen=True)
class TMLEResult:
    """Reference estimate (original units).

    Attributes
    ----------
    mean : ndarray, shape (p,)
    scale : ndarray, shape (p, p)
    dof : float
    loglik : float
        :func:`observed_loglik` at the estimate.
    """

    mean: np.ndarray
    scale: np.ndarray
    dof: float
    loglik: float


def observed_loglik(values: np.ndarray, mean: np.ndarray, scale: np.ndarray, dof: float) -> float:
    """``sum_i log t(x_{i,o_i}; mu_o, Sigma_oo, nu)``, one row at a time with :class:`scipy.stats.multivariate_t`."""
    total = 0.0
    for row in np.asarray(values, dtype=float):
        o = ~np.isnan(row)
        if o.any():
            total += float(multivariate_t(loc=mean[o], shape=scale[np.ix_(o, o)], df=dof).logpdf(row[o]))
    return total


def _by_pattern(z: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(observed mask, observed values (k, |o|))`` per missingness pattern."""
    miss = np.isnan(z)
    keys, inverse = np.unique(miss, axis=0, return_inverse=True)
    out = []
    for g, key in enumerate(keys):
        o = ~key
        if o.any():
            out.append((o, z[np.ravel(inverse) == g][:, o]))
    return out


def _loglik_grouped(groups: list[tuple[np.ndarray, np.ndarray]], mean: np.ndarray, scale: np.ndarray, dof: float) -> float:
    total = 0.0
    for o, x in groups:
        dist = multivariate_t(loc=mean[o], shape=scale[np.ix_(o, o)], df=dof)
        total += float(np.sum(np.atleast_1d(dist.logpdf(x))))
    return total


def mvt_mle(
    values: np.ndarray,
    start_mean: np.ndarray,
    start_scale: np.ndarray,
    start_dof: float,
    *,
    fixed_dof: float | None = None,
) -> TMLEResult:
    """Maximise the observed-data t log-likelihood directly from the given start.

    Parameters
    ----------
    values : ndarray, shape (n, p)
        Data, NaN where missing.
    start_mean, start_scale, start_dof
        Starting point (original units); ``start_dof`` is ignored when ``fixed_dof`` is given.
    fixed_dof : float, optional
        Hold ``nu`` at this value; default: estimate it.
    """
    x = np.asarray(values, dtype=float)
    n, p = x.shape
    c = np.nanmean(x, axis=0)
    s = np.nanstd(x, axis=0)
    z = (x - c) / s
    groups = _by_pattern(z)
    rows, cols = np.tril_indices(p)
    diag = rows == cols

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        mu = theta[:p]
        lower = np.zeros((p, p))
        vals = theta[p : p + rows.size].copy()
        vals[diag] = np.exp(vals[diag])
        lower[rows, cols] = vals
        nu = fixed_dof if fixed_dof is not None else float(np.exp(theta[-1]))
        return mu, lower @ lower.T, nu

    def objective(theta: np.ndarray) -> float:
        mu, sigma, nu = unpack(theta)
        try:
            return -_loglik_grouped(groups, mu, sigma, nu) / n
        except (np.linalg.LinAlgError, ValueError):
            return np.inf

    def gradient(theta: np.ndarray) -> np.ndarray:
        g = np.empty_like(theta)
        for k in range(theta.size):
            e = np.zeros_like(theta)
            e[k] = 1e-6
            g[k] = (objective(theta + e) - objective(theta - e)) / 2e-6
        return g

    lower0 = np.linalg.cholesky(start_scale / np.outer(s, s))
    start = lower0[rows, cols].copy()
    start[diag] = np.log(start[diag])
    theta = np.concatenate([(start_mean - c) / s, start] + ([] if fixed_dof is not None else [[np.log(start_dof)]]))
    best = objective(theta)
    for _ in range(10):
        res = scipy.optimize.minimize(objective, theta, jac=gradient, method="BFGS", options={"gtol": 1e-10, "maxiter": 2000})
        if not res.fun < best - 1e-15:
            break
        theta, best = res.x, res.fun
    mu, sigma, nu = unpack(theta)
    mean = c + s * mu
    scale = sigma * np.outer(s, s)
    return TMLEResult(mean=mean, scale=scale, dof=float(nu), loglik=observed_loglik(x, mean, scale, nu))
