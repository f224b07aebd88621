"""Independent reference for random slopes: the dense (RE)ML likelihood maximised directly.

Test-only. Shares no code and no algorithm with :mod:`imputer.mixed` (no EM, no
mixed-model equations). Over the ``n`` rows with observed ``y``,

.. math::

    y \\sim N(X b, V),\\qquad V = \\sum_i Z_i (K_i \\otimes G_i) Z_i' + s_e I,

with ``Z_i`` (n, q_i d_i) in level-major columns (column ``l d_i + a`` is effect ``a``
of level ``l``), ``K_i`` (q_i, q_i) or the identity, and ``G_i`` (d_i, d_i) positive
semi-definite. With ``b_hat`` the GLS estimate and ``r = y - X b_hat`` the
log-likelihoods (lme4's constants) are

.. math::

    \\ell_{ML} = -\\tfrac12 [n \\log 2\\pi + \\log|V| + r'V^{-1}r],\\qquad
    \\ell_{REML} = \\ell_{ML} + \\tfrac12 [p \\log 2\\pi - \\log|X'V^{-1}X|].

``G_i = L_i L_i'`` is parametrised by its lower-triangular Cholesky factor (free signs,
so the boundary ``rank(G_i) < d_i`` is an interior point of the parameter space) and
``s_e = exp(phi)``; the negative log-likelihood is minimised by BFGS with
finite-difference gradients from the given start, then by Nelder-Mead, and the best
point is returned. Prediction of every row: ``u_i = (K_i (x) G_i) Z_i' V^-1 r`` and
``y_hat = X b_hat + sum_i Z_i u_i``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import scipy.optimize

__all__ = ["loglik", "maximise", "predict"]

_LOG2PI = math.log(2.0 * math.pi)


def _covs(terms, params):
    out, at = [], 0
    for Z, K, d in terms:
        m = d * (d + 1) // 2
        L = np.zeros((d, d))
        L[np.tril_indices(d)] = params[at : at + m]
        out.append(L @ L.T)
        at += m
    return out, float(np.exp(params[at]))


def _V(terms, Gs, se, n):
    V = se * np.eye(n)
    for (Z, K, d), G in zip(terms, Gs):
        q = Z.shape[1] // d
        KG = np.kron(np.eye(q) if K is None else K, G)
        V += Z @ KG @ Z.T
    return V


def loglik(y, X, terms, Gs, se, method):
    """(RE)ML log-likelihood at covariances ``Gs`` and residual variance ``se``.

    ``terms``: list of ``(Z (n, q d), K (q, q) or None, d)`` on the observed rows.
    """
    n, p = X.shape
    V = _V(terms, Gs, se, n)
    cf = scipy.linalg.cho_factor(V, lower=True)
    ViX = scipy.linalg.cho_solve(cf, X)
    XViX = X.T @ ViX
    b = np.linalg.solve(XViX, ViX.T @ y)
    r = y - X @ b
    logdet = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
    ll = -0.5 * (n * _LOG2PI + logdet + float(r @ scipy.linalg.cho_solve(cf, r)))
    if method == "REML":
        ll += 0.5 * (p * _LOG2PI - float(np.linalg.slogdet(XViX)[1]))
    return ll


def maximise(y, X, terms, G0s, se0, method):
    """Maximise from ``(G0s, se0)`` (eigenvalues floored at ``1e-4`` of the largest variance); returns ``(Gs, se, loglik)``."""
    x0 = []
    for G in G0s:
        d = G.shape[0]
        w, Q = np.linalg.eigh(0.5 * (G + G.T))
        floor = 1e-4 * max(float(w[-1]), se0)
        L = np.linalg.cholesky((Q * np.maximum(w, floor)) @ Q.T)
        x0 += list(L[np.tril_indices(d)])
    x0.append(math.log(se0))
    x0 = np.array(x0)

    def f(x):
        Gs, se = _covs(terms, x)
        try:
            return -loglik(y, X, terms, Gs, se, method)
        except (np.linalg.LinAlgError, ValueError):
            return np.inf

    best = scipy.optimize.minimize(f, x0, method="BFGS", options={"gtol": 1e-7, "maxiter": 500})
    nm = scipy.optimize.minimize(f, best.x, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 2000})
    x = nm.x if nm.fun <= best.fun else best.x
    Gs, se = _covs(terms, x)
    return Gs, se, -f(x)


def predict(y, X, terms, Gs, se, X_all, Z_all):
    """``X_all b_hat + sum_i Z_all_i u_i`` with ``u_i = (K_i (x) G_i) Z_i' V^-1 r`` (every row)."""
    n = X.shape[0]
    V = _V(terms, Gs, se, n)
    Vi = np.linalg.inv(V)
    b = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    r = y - X @ b
    out = X_all @ b
    for (Z, K, d), G, Za in zip(terms, Gs, Z_all):
        q = Z.shape[1] // d
        u = np.kron(np.eye(q) if K is None else K, G) @ Z.T @ (Vi @ r)
        out = out + Za @ u
    return out
