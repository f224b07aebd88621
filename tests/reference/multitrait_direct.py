r"""Test-only reference: multi-trait REML/ML by direct maximisation over the stacked model.

Independent of the package's engine (no EM, no mixed-model equations, no rotation,
no Woodbury): for observed entries ``o`` of ``vec(Y)`` (trait-major), build

    V = sum_k G_k (x) (Z_k K_k Z_k') + R (x) I_n          restricted to o x o,
    X = I_t (x) X                                           restricted to the rows o,

and maximise the REML (or ML) log-likelihood with lme4's constants

    ML   -(1/2)[N log 2 pi + log|V| + r'V^-1 r]
    REML -(1/2)[(N - tp) log 2 pi + log|V| + log|X'V^-1 X| + r'V^-1 r],
    r = y - X b_GLS,

over the lower-triangular Cholesky factors of every ``G_k`` and ``R`` (log-diagonal)
with scipy.optimize (BFGS, restarted once from its answer). The conditional expectation of the
missing entries is ``X_m b + V_mo V_oo^-1 (y_o - X_o b)`` from the same dense ``V``.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

LOG_2PI = float(np.log(2 * np.pi))


def _chol(theta: np.ndarray, t: int) -> np.ndarray:
    L = np.zeros((t, t))
    r, c = np.tril_indices(t)
    L[r, c] = theta
    d = np.arange(t)
    L[d, d] = np.exp(L[d, d])
    return L


def _unchol(S: np.ndarray) -> np.ndarray:
    L = np.linalg.cholesky(S)
    d = np.arange(S.shape[0])
    L[d, d] = np.log(L[d, d])
    return L[np.tril_indices(S.shape[0])]


def _parts(Y, X, Ms, covs):
    n, t = Y.shape
    obs = ~np.isnan(Y.T.ravel())  # trait-major
    Gs, R = covs[:-1], covs[-1]
    V = sum(np.kron(G, M) for G, M in zip(Gs, Ms)) + np.kron(R, np.eye(n))
    Xf = np.kron(np.eye(t), X)
    return obs, V, Xf, Y.T.ravel()


def loglik(Y, X, Ms, covs, ml=False) -> float:
    """REML (or ML) log-likelihood at ``covs = [G_1, ..., G_k, R]`` (t x t each)."""
    obs, V, Xf, y = _parts(Y, X, Ms, covs)
    Vo, Xo, yo = V[np.ix_(obs, obs)], Xf[obs], y[obs]
    keep = np.any(Xo != 0, axis=0)
    Xo = Xo[:, keep]
    Lc = np.linalg.cholesky(Vo)
    Vi_X = np.linalg.solve(Vo, Xo)
    XVX = Xo.T @ Vi_X
    b = np.linalg.solve(XVX, Vi_X.T @ yo)
    r = yo - Xo @ b
    quad = float(r @ np.linalg.solve(Vo, r))
    logdet = 2 * float(np.sum(np.log(np.diag(Lc))))
    N, tp = yo.size, Xo.shape[1]
    if ml:
        return -0.5 * (N * LOG_2PI + logdet + quad)
    return -0.5 * ((N - tp) * LOG_2PI + logdet + np.linalg.slogdet(XVX)[1] + quad)


def fit(Y, X, Ms, start, ml=False):
    """Maximise over Cholesky factors from ``start`` (list of t x t); returns (covs, loglik)."""
    t = Y.shape[1]
    w = t * (t + 1) // 2
    k1 = len(start)

    def unpack(theta):
        return [(lambda L: L @ L.T)(_chol(theta[j * w:(j + 1) * w], t)) for j in range(k1)]

    def f(theta):
        try:
            return -loglik(Y, X, Ms, unpack(theta), ml)
        except np.linalg.LinAlgError:
            return np.inf

    x0 = np.concatenate([_unchol(S) for S in start])
    res = minimize(f, x0, method="BFGS", options={"gtol": 1e-9, "maxiter": 5000})
    res = minimize(f, res.x, method="BFGS", options={"gtol": 1e-10, "maxiter": 5000})
    covs = unpack(res.x)
    return covs, -float(res.fun)


def conditional_mean(Y, X, Ms, covs) -> np.ndarray:
    """``E[y_mis | y_obs]`` with GLS ``b`` from the dense ``V``; returns Y completed (n x t)."""
    n, t = Y.shape
    obs, V, Xf, y = _parts(Y, X, Ms, covs)
    Vo, Xo, yo = V[np.ix_(obs, obs)], Xf[obs], y[obs]
    Vi_X = np.linalg.solve(Vo, Xo)
    b = np.linalg.solve(Xo.T @ Vi_X, Vi_X.T @ yo)
    out = y.copy()
    out[~obs] = Xf[~obs] @ b + V[np.ix_(~obs, obs)] @ np.linalg.solve(Vo, yo - Xo @ b)
    return out.reshape(t, n).T
