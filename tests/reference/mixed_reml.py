"""Independent reference: linear mixed model by direct maximisation of the (RE)ML likelihood.

Test-only. Shares no code and no algorithm with :mod:`imputer.mixed` (no EM, no
mixed-model equations): the marginal likelihood is written down with the dense ``V``
matrix and maximised numerically over log-variances with :mod:`scipy.optimize`.

Model
-----
Over the ``n`` rows with observed ``y``

.. math::

    y = X b + \\sum_{i=1}^k Z_i u_i + e,\\qquad u_i \\sim N(0, s_i K_i),\\qquad
    e \\sim N(0, s_e I),

so ``y ~ N(X b, V)`` with ``V = sum_i s_i A_i + s_e I`` and ``A_i = Z_i K_i Z_i'``.
With ``p = rank(X)``, ``b_hat = (X' V^-1 X)^-1 X' V^-1 y`` (GLS) and ``r = y - X b_hat``,
the log-likelihoods (lme4's ``logLik`` convention, constants included) are

.. math::

    \\ell_{ML}   &= -\\tfrac12 [\\, n \\log 2\\pi + \\log|V| + r' V^{-1} r \\,] \\\\
    \\ell_{REML} &= -\\tfrac12 [\\, (n - p) \\log 2\\pi + \\log|V| + \\log|X' V^{-1} X|
                    + r' V^{-1} r \\,].

Gradient (``P = V^-1 - V^-1 X (X' V^-1 X)^-1 X' V^-1``, so ``P y = V^-1 r``; the
dependence of ``b_hat`` on ``V`` drops out of the ML gradient because ``b_hat`` maximises
``ell_ML`` for fixed ``V``)

.. math::

    \\partial \\ell_{ML} / \\partial s_j   &= -\\tfrac12 [\\operatorname{tr}(V^{-1} A_j)
                                          - r' V^{-1} A_j V^{-1} r] \\\\
    \\partial \\ell_{REML} / \\partial s_j &= -\\tfrac12 [\\operatorname{tr}(P A_j)
                                          - r' V^{-1} A_j V^{-1} r]

with ``A_e = I``; over log-variances ``phi_j = log s_j`` multiply by ``s_j``.

Prediction (BLUP) at the optimum, for every row including those with missing ``y``
(``Z_i^{all}``, ``X^{all}`` the full design matrices):

.. math::

    \\hat u_i = s_i K_i Z_i' V^{-1} r,\\qquad
    \\operatorname{PEV}(\\hat u_i) = \\operatorname{diag}(s_i K_i - s_i^2 K_i Z_i' P Z_i K_i),
    \\qquad \\hat y^{all} = X^{all} \\hat b + \\sum_i Z_i^{all} \\hat u_i,

and ``Var(b_hat) = (X' V^-1 X)^-1``. AIC and BIC follow lme4: ``-2 ell + 2 d`` and
``-2 ell + d log n`` with ``d = k + 1 + p`` (``n`` observed rows, also for REML).

Numerics
--------
The objective is ``-ell / n`` over ``phi``; ``V`` is factorised by Cholesky. Several
starts (an even split of ``var(y)`` and splits that favour each component in turn) run
L-BFGS-B; the best is polished by Newton steps whose Hessian is a central difference of
the analytic gradient, until the gradient norm over ``phi`` falls below ``gtol``.
A component whose variance falls below ``boundary_rel * var(y)`` is set to exactly 0
(the optimum is on the boundary; its gradient there is checked to point outwards) and
the others are re-optimised.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

__all__ = ["MixedReference", "RandomSpec", "loglik", "fit_reference", "predict"]

_LOG2PI = math.log(2.0 * math.pi)

#: name -> (Z (n_all, q), K (q, q) or None for identity)
RandomSpec = Mapping[str, tuple[np.ndarray, np.ndarray | None]]


@dataclass(frozen=True)
class MixedReference:
    """Reference fit.

    Attributes
    ----------
    names : tuple of str
        Random-effect names, then ``"residual"``.
    var_comp : ndarray, shape (k + 1,)
        Variances in the order of ``names``.
    beta : ndarray, shape (p,)
    var_beta : ndarray, shape (p, p)
    u : dict of str -> ndarray, shape (q_i,)
        BLUPs.
    pev : dict of str -> ndarray, shape (q_i,)
        Prediction error variances of the BLUPs.
    fitted : ndarray, shape (n_all,)
        ``X b + sum Z u`` for every row, including rows with missing ``y``.
    loglik, aic, bic : float
    method : str
        ``"REML"`` or ``"ML"``.
    boundary : tuple of str
        Components fixed at 0.
    grad_norm : float
        Max-norm of the gradient of ``-ell / n`` over the free log-variances at the end.
    """

    names: tuple[str, ...]
    var_comp: np.ndarray
    beta: np.ndarray
    var_beta: np.ndarray
    u: dict[str, np.ndarray]
    pev: dict[str, np.ndarray]
    fitted: np.ndarray
    loglik: float
    aic: float
    bic: float
    method: str
    boundary: tuple[str, ...]
    grad_norm: float


class _Problem:
    """Dense pieces over the observed rows."""

    def __init__(self, y: np.ndarray, X: np.ndarray, random: RandomSpec, method: str) -> None:
        if method not in ("REML", "ML"):
            raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
        y = np.asarray(y, dtype=float)
        self.obs = ~np.isnan(y)
        self.y = y[self.obs]
        self.X_all = np.asarray(X, dtype=float)
        self.X = self.X_all[self.obs]
        self.names = tuple(random)
        self.Z_all: list[np.ndarray] = []
        self.K: list[np.ndarray] = []
        self.A: list[np.ndarray] = []
        for name in self.names:
            Z, K = random[name]
            Z = np.asarray(Z, dtype=float)
            K = np.eye(Z.shape[1]) if K is None else np.asarray(K, dtype=float)
            self.Z_all.append(Z)
            self.K.append(K)
            Zo = Z[self.obs]
            self.A.append(Zo @ K @ Zo.T)
        self.A.append(np.eye(self.y.size))
        self.method = method
        self.n = self.y.size
        self.p = int(np.linalg.matrix_rank(self.X))

    def pieces(self, s: np.ndarray) -> dict:
        """Cholesky factors of V and X'V^-1X, GLS beta, V^-1 r, V^-1 X and ell at ``s``."""
        V = sum(si * Ai for si, Ai in zip(s, self.A))
        cf = scipy.linalg.cho_factor(V, lower=True)
        logdet_v = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
        Vi_X = scipy.linalg.cho_solve(cf, self.X)
        Vi_y = scipy.linalg.cho_solve(cf, self.y)
        XtViX = self.X.T @ Vi_X
        cx = scipy.linalg.cho_factor(XtViX, lower=True)
        beta = scipy.linalg.cho_solve(cx, self.X.T @ Vi_y)
        r = self.y - self.X @ beta
        Vi_r = Vi_y - Vi_X @ beta
        quad = float(r @ Vi_r)
        logdet_x = 2.0 * float(np.sum(np.log(np.diag(cx[0]))))
        if self.method == "ML":
            ll = -0.5 * (self.n * _LOG2PI + logdet_v + quad)
        else:
            ll = -0.5 * ((self.n - self.p) * _LOG2PI + logdet_v + logdet_x + quad)
        return {"cf": cf, "cx": cx, "beta": beta, "Vi_r": Vi_r, "Vi_X": Vi_X, "loglik": ll}

    def P(self, pc: dict) -> np.ndarray:
        """The matrix in the trace term of the gradient: V^-1 (ML) or P (REML)."""
        Vi = scipy.linalg.cho_solve(pc["cf"], np.eye(self.n))
        if self.method == "ML":
            return Vi
        Vi_X = pc["Vi_X"]
        return Vi - Vi_X @ scipy.linalg.cho_solve(pc["cx"], Vi_X.T)

    def loglik_grad(self, s: np.ndarray) -> tuple[float, np.ndarray]:
        """ell and d ell / d s (natural scale)."""
        pc = self.pieces(s)
        M = self.P(pc)  # V^-1 for ML, P for REML
        v = pc["Vi_r"]
        g = np.array([-0.5 * (np.sum(M * Ai) - v @ Ai @ v) for Ai in self.A])
        return float(pc["loglik"]), g


def _objective(
    prob: _Problem, phi: np.ndarray, free: np.ndarray, full: np.ndarray
) -> tuple[float, np.ndarray]:
    """-ell / n and its gradient over the log-variances of the free components."""
    s = full.copy()
    s[free] = np.exp(phi)
    try:
        ll, g = prob.loglik_grad(s)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        return np.inf, np.zeros_like(phi)
    return -ll / prob.n, -(g[free] * s[free]) / prob.n


def _newton_polish(
    prob: _Problem, phi: np.ndarray, free: np.ndarray, full: np.ndarray, gtol: float,
    max_steps: int = 50,
) -> tuple[np.ndarray, float]:
    """Newton steps (finite-difference Hessian of the analytic gradient, backtracking)."""
    def grad(x):
        return _objective(prob, x, free, full)[1]

    g = grad(phi)
    for _ in range(max_steps):
        if np.max(np.abs(g)) < gtol:
            break
        h = 1e-5
        H = np.empty((phi.size, phi.size))
        for j in range(phi.size):
            e = np.zeros(phi.size)
            e[j] = h
            H[:, j] = (grad(phi + e) - grad(phi - e)) / (2 * h)
        H = (H + H.T) / 2
        w, Q = np.linalg.eigh(H)
        step = -Q @ ((Q.T @ g) / np.maximum(np.abs(w), 1e-10))
        f0 = _objective(prob, phi, free, full)[0]
        t = 1.0
        while t > 1e-8:
            cand = phi + t * step
            f1, g1 = _objective(prob, cand, free, full)
            if f1 <= f0 + 1e-15 * abs(f0):
                phi, g = cand, g1
                break
            t /= 2
        else:
            break
    return phi, float(np.max(np.abs(g))) if g.size else 0.0


def _maximise(
    prob: _Problem, free: np.ndarray, full: np.ndarray, starts: list[np.ndarray], gtol: float
) -> tuple[np.ndarray, float]:
    """Best L-BFGS-B run over the starts, then Newton polish; returns all variances."""
    best = None
    for s0 in starts:
        x0 = np.log(np.asarray(s0, dtype=float)[free])
        res = scipy.optimize.minimize(
            lambda x: _objective(prob, x, free, full), x0, jac=True, method="L-BFGS-B",
            bounds=[(-60.0, 60.0)] * x0.size,
            options={"maxiter": 5000, "gtol": 1e-12, "ftol": 1e-15},
        )
        if best is None or res.fun < best.fun:
            best = res
    phi, gnorm = _newton_polish(prob, best.x, free, full, gtol)
    s = full.copy()
    s[free] = np.exp(phi)
    return s, gnorm


def loglik(
    var_comp: np.ndarray, y: np.ndarray, X: np.ndarray, random: RandomSpec, *, method: str = "REML"
) -> float:
    """REML or ML log-likelihood (with constants) at given variances.

    Parameters
    ----------
    var_comp : ndarray, shape (k + 1,)
        Variances of the random effects (order of ``random``), then the residual.
    y : ndarray, shape (n_all,)
        NaN where missing (those rows are left out).
    X : ndarray, shape (n_all, p)
    random : mapping name -> (Z (n_all, q), K (q, q) or None)
    method : {"REML", "ML"}

    Returns
    -------
    float
    """
    prob = _Problem(y, X, random, method)
    return float(prob.pieces(np.asarray(var_comp, dtype=float))["loglik"])


def predict(
    var_comp: np.ndarray, y: np.ndarray, X: np.ndarray, random: RandomSpec, *, method: str = "REML"
) -> MixedReference:
    """GLS fixed effects, BLUPs, PEVs and predictions at given variances (no fitting).

    Parameters are as for :func:`loglik`. ``grad_norm`` is the max-norm of the gradient
    of ``-ell / n`` over the log-variances of the positive components.
    """
    prob = _Problem(y, X, random, method)
    s = np.asarray(var_comp, dtype=float)
    pc = prob.pieces(s)
    ll, g = prob.loglik_grad(s)
    pos = s > 0
    grad_norm = float(np.max(np.abs(g[pos] * s[pos]))) / prob.n if pos.any() else 0.0
    # PEV uses the REML projector P whatever the method (b is estimated in both)
    Vi = scipy.linalg.cho_solve(pc["cf"], np.eye(prob.n))
    P = Vi - pc["Vi_X"] @ scipy.linalg.cho_solve(pc["cx"], pc["Vi_X"].T)
    beta = pc["beta"]
    fitted = prob.X_all @ beta
    u: dict[str, np.ndarray] = {}
    pev: dict[str, np.ndarray] = {}
    for i, name in enumerate(prob.names):
        Zo = prob.Z_all[i][prob.obs]
        KZt = prob.K[i] @ Zo.T
        u[name] = s[i] * KZt @ pc["Vi_r"]
        pev[name] = s[i] * np.diag(prob.K[i]) - s[i] ** 2 * np.einsum("ij,jk,ik->i", KZt, P, KZt)
        fitted = fitted + prob.Z_all[i] @ u[name]
    var_beta = scipy.linalg.cho_solve(pc["cx"], np.eye(prob.X.shape[1]))
    d = len(prob.names) + 1 + prob.X.shape[1]
    return MixedReference(
        names=(*prob.names, "residual"),
        var_comp=s.copy(),
        beta=beta,
        var_beta=var_beta,
        u=u,
        pev=pev,
        fitted=fitted,
        loglik=float(ll),
        aic=-2.0 * ll + 2.0 * d,
        bic=-2.0 * ll + d * math.log(prob.n),
        method=method,
        boundary=tuple(nm for nm, si in zip(prob.names, s) if si == 0.0),
        grad_norm=grad_norm,
    )


def fit_reference(
    y: np.ndarray,
    X: np.ndarray,
    random: RandomSpec,
    *,
    method: str = "REML",
    gtol: float = 1e-11,
    boundary_rel: float = 1e-9,
) -> MixedReference:
    """Maximise the REML or ML likelihood directly over log-variances.

    Parameters
    ----------
    y : ndarray, shape (n_all,)
        NaN where missing (predicted, not fitted).
    X : ndarray, shape (n_all, p)
        Full column rank on the observed rows.
    random : mapping name -> (Z (n_all, q), K (q, q) or None)
        Dense incidence and covariance matrices; ``K=None`` is the identity.
    method : {"REML", "ML"}
    gtol : float
        Target max-norm of the gradient of ``-ell / n`` over log-variances.
    boundary_rel : float
        Variances below ``boundary_rel * var(y)`` are set to 0 and the rest re-fitted.

    Returns
    -------
    MixedReference
    """
    prob = _Problem(y, X, random, method)
    k1 = len(prob.A)
    vy = float(np.var(prob.y))
    starts = [np.full(k1, vy / k1)]
    for j in range(k1):
        s0 = np.full(k1, 0.2 * vy / k1)
        s0[j] = 0.8 * vy
        starts.append(s0)
    free = np.ones(k1, dtype=bool)
    full = np.zeros(k1)
    s, _ = _maximise(prob, free, full, starts, gtol)
    small = s[:-1] < boundary_rel * vy
    if small.any():
        free = np.append(~small, True)
        full = np.zeros(k1)
        s, _ = _maximise(prob, free, full, [np.where(free, st, 0.0) for st in starts], gtol)
        _, g = prob.loglik_grad(s)
        if np.any(g[~free] > 1e-8 * prob.n / vy):
            raise RuntimeError("boundary optimum not confirmed: gradient points inwards")
    return predict(s, y, X, random, method=method)
