"""Independent reference: multivariate-normal MLE with missing values by direct maximisation.

Test-only. Shares no code and no algorithm with :mod:`imputer.mvn` (no EM, no
conditional expectations): the observed-data log-likelihood is written down and
maximised numerically with :mod:`scipy.optimize`.

Model
-----
Rows ``x_i`` (length ``p``) are i.i.d. ``N(mu, Sigma)``; cells are missing at random.
Row ``i`` observes the index set ``o_i``. The observed-data log-likelihood is

.. math::

    \\ell(\\mu, \\Sigma) = \\sum_i -\\tfrac12 \\Big[ |o_i| \\log(2\\pi)
        + \\log\\det \\Sigma_{o_i o_i}
        + (x_{i,o_i} - \\mu_{o_i})^\\top \\Sigma_{o_i o_i}^{-1} (x_{i,o_i} - \\mu_{o_i}) \\Big]

(constants included; rows with nothing observed contribute 0).

Parameterisation and gradient
-----------------------------
``Sigma = L L^T`` with ``L`` lower triangular, ``L_jj = exp(theta_j)`` (so every
parameter vector gives a positive-definite ``Sigma``); the free parameters are
``(mu, theta, L_{j>k})``. Rows are grouped by missingness pattern ``g`` (observed
set ``o``, ``n_g`` rows, group mean ``xbar_g``, centred scatter ``C_g``); with
``d_g = xbar_g - mu_o`` and ``T_g = C_g + n_g d_g d_g^T``

.. math::

    \\ell = \\sum_g -\\tfrac12 [n_g |o| \\log 2\\pi + n_g \\log\\det\\Sigma_{oo}
            + \\operatorname{tr}(\\Sigma_{oo}^{-1} T_g)],\\qquad
    \\partial\\ell/\\partial\\mu_o = \\sum_g n_g \\Sigma_{oo}^{-1} d_g,

    G = \\partial\\ell/\\partial\\Sigma = \\sum_g \\operatorname{embed}_o
        \\tfrac12(\\Sigma_{oo}^{-1} T_g \\Sigma_{oo}^{-1} - n_g \\Sigma_{oo}^{-1}),\\qquad
    \\partial\\ell/\\partial L = \\operatorname{tril}(2 G L),\\qquad
    \\partial\\ell/\\partial\\theta_j = (2 G L)_{jj} L_{jj}.

Optional prior (for ``ridge > 0``)
----------------------------------
A log prior (e.g. the engine's inverse-Wishart-type ridge penalty, written out in
tests/imputer/mvn/test_reference_agreement.py) is supplied as a callable
``prior(mu, Sigma) -> (logprior, dlogprior/dmu, dlogprior/dSigma)`` on the original
scale; the reference then maximises ``ell + logprior`` (the log-posterior: the MAP).

Numerics
--------
The columns are first centred and scaled by their observed mean and standard
deviation (the MLE is affine-equivariant, so this changes nothing but the
conditioning); the objective is ``-ell / n``. Start: pairwise-complete mean and
covariance, eigenvalues clipped to be positive. L-BFGS-B runs to a tight gradient
tolerance, then Newton steps with a finite-difference Hessian of the analytic
gradient polish until the gradient norm is below ``gtol`` (reported).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

__all__ = ["MLEResult", "observed_loglik", "mvn_mle", "PriorFn"]

#: ``prior(mu, Sigma) -> (log prior, d/d mu (p,), d/d Sigma (p, p) symmetric form)``
PriorFn = Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray, np.ndarray]]

_LOG2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class MLEResult:
    """Reference estimate.

    Attributes
    ----------
    mean : ndarray, shape (p,)
    cov : ndarray, shape (p, p)
    objective : float
        Observed-data log-likelihood (plus log prior when a prior is given) at the estimate,
        on the original scale of the data, computed by :func:`observed_loglik`.
    grad_norm : float
        Max-abs gradient of ``-objective / n`` in the standardised parameterisation at the end.
    """

    mean: np.ndarray
    cov: np.ndarray
    objective: float
    grad_norm: float


def observed_loglik(values: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> float:
    """Observed-data log-likelihood, one row at a time (naive, independent, slow).

    Parameters
    ----------
    values : ndarray, shape (n, p)
        Data with NaN for missing cells.
    mean : ndarray, shape (p,)
    cov : ndarray, shape (p, p)

    Returns
    -------
    float
        ``sum_i log N(x_{i,o_i}; mu_{o_i}, Sigma_{o_i o_i})``, constants included.
    """
    x = np.asarray(values, dtype=float)
    total = 0.0
    for row in x:
        o = ~np.isnan(row)
        k = int(o.sum())
        if k == 0:
            continue
        s = cov[np.ix_(o, o)]
        r = row[o] - mean[o]
        sign, logdet = np.linalg.slogdet(s)
        if sign <= 0:
            return -math.inf
        total += -0.5 * (k * _LOG2PI + logdet + float(r @ np.linalg.solve(s, r)))
    return total


# --------------------------------------------------------------------------- internals


@dataclass(frozen=True)
class _Group:
    obs: np.ndarray  # (p,) bool
    n: int
    xbar: np.ndarray  # (|o|,)
    scatter: np.ndarray  # (|o|, |o|) centred


def _groups(z: np.ndarray) -> list[_Group]:
    mask = ~np.isnan(z)
    keys, inverse = np.unique(mask, axis=0, return_inverse=True)
    out = []
    for g, obs in enumerate(keys):
        if not obs.any():
            continue
        rows = z[inverse.ravel() == g][:, obs]
        xbar = rows.mean(axis=0)
        c = rows - xbar
        out.append(_Group(obs=obs, n=rows.shape[0], xbar=xbar, scatter=c.T @ c))
    return out


class _Objective:
    """``-(ell + logprior)/n`` and its gradient over ``(mu, theta, offdiag)``."""

    def __init__(self, groups: list[_Group], p: int, n: int, prior: PriorFn | None) -> None:
        self.groups, self.p, self.n, self.prior = groups, p, n, prior
        self.tril = np.tril_indices(p, -1)

    def unpack(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.p
        mu = v[:p]
        low = np.diag(np.exp(v[p : 2 * p]))
        low[self.tril] = v[2 * p :]
        return mu, low

    def pack(self, mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
        low = np.linalg.cholesky(cov)
        return np.concatenate([mu, np.log(np.diag(low)), low[self.tril]])

    def __call__(self, v: np.ndarray) -> tuple[float, np.ndarray]:
        p = self.p
        mu, low = self.unpack(v)
        sigma = low @ low.T
        ell = 0.0
        g_mu = np.zeros(p)
        g_sig = np.zeros((p, p))
        for grp in self.groups:
            o = grp.obs
            s_oo = sigma[np.ix_(o, o)]
            try:
                cf = scipy.linalg.cho_factor(s_oo, lower=True)
            except np.linalg.LinAlgError:
                return math.inf, np.zeros_like(v)
            logdet = 2.0 * np.log(np.diag(cf[0])).sum()
            d = grp.xbar - mu[o]
            t = grp.scatter + grp.n * np.outer(d, d)
            s_inv = scipy.linalg.cho_solve(cf, np.eye(o.sum()))
            a = s_inv @ t @ s_inv
            ell += -0.5 * (grp.n * o.sum() * _LOG2PI + grp.n * logdet + np.trace(s_inv @ t))
            g_mu[o] += grp.n * (s_inv @ d)
            g_sig[np.ix_(o, o)] += 0.5 * (a - grp.n * s_inv)
        if self.prior is not None:
            lp, dmu, dsig = self.prior(mu, sigma)
            ell += lp
            g_mu += dmu
            g_sig += dsig
        g_low = 2.0 * g_sig @ low
        grad = np.concatenate([g_mu, np.diag(g_low) * np.diag(low), g_low[self.tril]])
        return -ell / self.n, -grad / self.n


def _start(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise-complete mean and covariance, projected to positive definite."""
    p = z.shape[1]
    mu = np.nanmean(z, axis=0)
    cov = np.eye(p)
    for j in range(p):
        for k in range(j):
            both = ~np.isnan(z[:, j]) & ~np.isnan(z[:, k])
            if both.sum() > 2:
                cov[j, k] = cov[k, j] = np.corrcoef(z[both, j], z[both, k])[0, 1]
    w, v = np.linalg.eigh(cov)
    cov = (v * np.maximum(w, 0.05)) @ v.T
    dsd = np.sqrt(np.diag(cov))
    return mu, cov / np.outer(dsd, dsd)


def _fd_hessian(f: _Objective, v: np.ndarray) -> np.ndarray:
    m = v.size
    h = np.empty((m, m))
    for i in range(m):
        step = 1e-5 * max(1.0, abs(v[i]))
        e = np.zeros(m)
        e[i] = step
        h[:, i] = (f(v + e)[1] - f(v - e)[1]) / (2.0 * step)
    return 0.5 * (h + h.T)


def mvn_mle(
    values: np.ndarray,
    *,
    prior: PriorFn | None = None,
    gtol: float = 1e-11,
    max_newton: int = 50,
) -> MLEResult:
    """Maximum-likelihood (or MAP) mean and covariance by direct maximisation.

    Parameters
    ----------
    values : ndarray, shape (n, p)
        Data, NaN for missing; every column needs at least one observed value.
    prior : callable, optional
        ``prior(mu, Sigma)`` on the *original* scale of the data, returning the log prior,
        its gradient in ``mu`` (p,) and in ``Sigma`` (p, p). The reference then returns the
        posterior mode.
    gtol : float
        Target max-abs gradient of ``-objective / n`` (standardised scale).
    max_newton : int
        Maximum number of Newton polishing steps.

    Returns
    -------
    MLEResult
    """
    x = np.asarray(values, dtype=float)
    n, p = x.shape
    centre = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = (x - centre) / scale

    std_prior: PriorFn | None = None
    if prior is not None:
        # Prior written on the original scale: mu = c + s*mu_z, Sigma = D Sigma_z D.
        def std_prior(mu_z: np.ndarray, sig_z: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            lp, dmu, dsig = prior(centre + scale * mu_z, sig_z * np.outer(scale, scale))
            return lp, dmu * scale, dsig * np.outer(scale, scale)

    f = _Objective(_groups(z), p, n, std_prior)
    v = f.pack(*_start(z))
    res = scipy.optimize.minimize(
        f, v, jac=True, method="L-BFGS-B",
        options={"maxiter": 20000, "maxcor": 30, "gtol": 1e-10, "ftol": 1e-15},
    )
    v = res.x
    fv, g = f(v)
    for _ in range(max_newton):
        if np.max(np.abs(g)) < gtol:
            break
        h = _fd_hessian(f, v)
        w, vec = np.linalg.eigh(h)
        step = -(vec / np.maximum(w, 1e-8 * max(1.0, w.max()))) @ (vec.T @ g)
        t = 1.0
        while t > 1e-10:
            f_new, g_new = f(v + t * step)
            if f_new <= fv + 1e-4 * t * float(g @ step) or (
                f_new <= fv + 1e-14 and np.max(np.abs(g_new)) < np.max(np.abs(g))
            ):
                break
            t *= 0.5
        else:
            break
        v, fv, g = v + t * step, f_new, g_new

    mu_z, low = f.unpack(v)
    sig_z = low @ low.T
    mean = centre + scale * mu_z
    cov = sig_z * np.outer(scale, scale)
    objective = observed_loglik(x, mean, cov)
    if prior is not None:
        objective += prior(mean, cov)[0]
    return MLEResult(mean=mean, cov=cov, objective=objective, grad_norm=float(np.max(np.abs(g))))
