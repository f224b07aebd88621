r"""Multi-trait engine for several random terms: the dense ``V`` over the observed entries.

Model (``t`` traits, ``k`` random terms, ``n`` fitted rows)::

    vec(Y) = (I_t (x) X) vec(B) + sum_k (I_t (x) Z_k) vec(U_k) + vec(E),
    vec(U_k) ~ N(0, G_k (x) K_k),   vec(E) ~ N(0, R (x) I_n),

``V = sum_k G_k (x) M_k + R (x) I_n`` with ``M_k = Z_k K_k Z_k'``. Two kernels cannot be
diagonalised together, so this engine works with ``V_oo`` (``N x N``, ``N`` observed
entries) directly: one Cholesky factor per evaluation (``N^3 / 3``), ``Pt = V_oo^-1 -
V_oo^-1 X (X' V_oo^-1 X)^-1 X' V_oo^-1`` (REML; ML: ``V_oo^-1``) formed explicitly, and
with ``A = Pt y`` (t x n, zero at missing entries)::

    T_k = [tr(Pt_cd M_k)]_cd,   T_I = [tr(Pt_cd)]_cd,
    G_k <- G_k + G_k (A M_k A' - T_k) G_k / rank(K_k),   R <- R + R (A A' - T_I) R / n,

the EM update of :mod:`imputer.mixed._multitrait` term by term; the REML score
``(1/2)(A M_k A' - T_k)`` (off-diagonals twice) and the average information
``(1/2)(V_i A)' Pt (V_j A)`` feed the same AI-REML iteration
(:mod:`imputer.mixed._multitrait_ai`). Log-likelihood with lme4's constants as there.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from imputer._util import LOG_2PI
from imputer.mixed._multitrait import Evaluation

__all__ = ["DenseMultiEngine"]


class DenseMultiEngine:
    """Log-likelihood, EM map, score and AI matrix over ``(vech G_1, ..., vech G_k, vech R)``.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Fixed-effect design of the fitted rows.
    Y : ndarray, shape (n, t)
        Response of the fitted rows, NaN where missing.
    Ms : list of ndarray, shape (n, n)
        ``Z_k K_k Z_k'`` on the fitted rows.
    ranks : list of int
        ``rank(K_k)`` (the M-step's divisors).
    ml : bool
    """

    def __init__(self, X: np.ndarray, Y: np.ndarray, Ms: list[np.ndarray], ranks: list[int], ml: bool):
        self.n, self.p = X.shape
        self.t = Y.shape[1]
        self.ml = ml
        self.ranks = ranks
        self.Ms = Ms
        obs = ~np.isnan(Y.T)  # (t, n), trait-major entries
        self.trait, self.row = np.nonzero(obs)
        self.n_obs = self.trait.size
        self.y = Y.T[obs]
        self.Xo = np.zeros((self.n_obs, self.t * self.p))
        for a in range(self.t):
            sel = self.trait == a
            self.Xo[np.ix_(sel, np.arange(a * self.p, (a + 1) * self.p))] = X[self.row[sel]]
        self.Mo = [M[np.ix_(self.row, self.row)] for M in Ms]
        self.same = self.row[:, None] == self.row[None, :]
        self.S = (self.trait[:, None] == np.arange(self.t)[None, :]).astype(float)  # (N, t)
        self.tri = np.tril_indices(self.t)
        self.m = int((~obs).sum())

    def _V(self, Gs: list[np.ndarray], R: np.ndarray) -> np.ndarray:
        ix = np.ix_(self.trait, self.trait)
        V = R[ix] * self.same
        for G, Mo in zip(Gs, self.Mo):
            V += G[ix] * Mo
        return V

    def _solve(self, mats: list[np.ndarray]):
        *Gs, R = mats
        try:
            L = sla.cholesky(self._V(Gs, R), lower=True, check_finite=False)
        except (sla.LinAlgError, ValueError):
            return None
        Vi = sla.cho_solve((L, True), np.eye(self.n_obs), check_finite=False)
        ViX = Vi @ self.Xo
        Phi = self.Xo.T @ ViX
        try:
            cphi = sla.cho_factor(Phi, lower=True, check_finite=False)
        except sla.LinAlgError:
            return None
        Pt = Vi - ViX @ sla.cho_solve(cphi, ViX.T, check_finite=False)
        Pt = 0.5 * (Pt + Pt.T)
        b = sla.cho_solve(cphi, ViX.T @ self.y, check_finite=False)
        Py = Pt @ self.y  # V^-1 (y - X b), ML and REML
        P = Vi if self.ml else Pt  # traces and AI
        quad = float(self.y @ Py)
        logdet = 2.0 * float(np.sum(np.log(np.diag(L))))
        N, tp = self.n_obs, self.t * self.p
        if self.ml:
            ll = -0.5 * (N * LOG_2PI + logdet + quad)
        else:
            ll = -0.5 * ((N - tp) * LOG_2PI + logdet + 2.0 * float(np.sum(np.log(np.diag(cphi[0])))) + quad)
        A = np.zeros((self.t, self.n))
        A[self.trait, self.row] = Py
        return ll, P, A, b.reshape(self.t, self.p).T

    def evaluate_full(self, mats: list[np.ndarray], ai: bool = True) -> Evaluation | None:
        """At ``mats = [G_1, ..., G_k, R]``: log-likelihood, EM update, score, AI (None: not evaluable)."""
        out = self._solve(mats)
        if out is None or not np.isfinite(out[0]):
            return None
        ll, P, A, _ = out
        S = self.S
        twice = np.where(self.tri[0] == self.tri[1], 1.0, 2.0)
        new, score, MAs = [], [], []
        for G, M, Mo, r in zip(mats[:-1], self.Ms, self.Mo, self.ranks):
            MA = A @ M
            Q, T = MA @ A.T, S.T @ (P * Mo) @ S
            new.append(G + G @ (Q - T) @ G / r)
            score.append(0.5 * (Q - T)[self.tri] * twice)
            MAs.append(MA)
        R = mats[-1]
        Q, T = A @ A.T, S.T @ (P * self.same) @ S
        new.append(R + R @ (Q - T) @ R / self.n)
        score.append(0.5 * (Q - T)[self.tri] * twice)
        MAs.append(A)
        new = [0.5 * (S_ + S_.T) for S_ in new]
        em = tuple(new) if all(np.all(np.isfinite(S_)) for S_ in new) else None
        AI = np.zeros((0, 0))
        if ai:
            cols = []
            for MA in MAs:
                for a, b in zip(*self.tri):
                    v = np.zeros((self.t, self.n))
                    v[a] += MA[b]
                    if a != b:
                        v[b] += MA[a]
                    cols.append(v[self.trait, self.row])
            Vv = np.column_stack(cols)
            AI = 0.5 * Vv.T @ (P @ Vv)
            AI = 0.5 * (AI + AI.T)
        return Evaluation(ll, em, np.concatenate(score), AI)

    def evaluate(self, mats: list[np.ndarray]) -> tuple[float, tuple[np.ndarray, ...] | None]:
        """Log-likelihood and the EM update (``-inf``, None: not evaluable)."""
        ev = self.evaluate_full(mats, ai=False)
        return (-np.inf, None) if ev is None else (ev.loglik, ev.em)

    def final(self, mats: list[np.ndarray]) -> tuple[float, np.ndarray, np.ndarray]:
        """``(loglik, B (p, t), A = Pt y (t, n))`` at the estimate."""
        out = self._solve(mats)
        if out is None:
            raise np.linalg.LinAlgError("V or X' V^-1 X is not positive definite at the estimate")
        ll, _, A, B = out
        return ll, B, A
