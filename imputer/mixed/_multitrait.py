r"""Multi-trait engine: one random term with a dense kernel, every trait on the same ``X``.

Model (``n`` rows that have at least one observed trait, ``t`` traits, ``Y`` n x t)::

    vec(Y) = (I_t (x) X) vec(B) + (I_t (x) Z) vec(U) + vec(E),
    vec(U) ~ N(0, G (x) K),   vec(E) ~ N(0, R (x) I_n),

so ``V = G (x) M + R (x) I_n`` with ``M = Z K Z'`` (n x n) and unstructured ``G``, ``R``
(t x t). Only the observed entries ``o`` of ``vec(Y)`` enter the likelihood.

Canonical transformation. One eigendecomposition ``M = U diag(d) U'`` (made once) and,
at every iterate, the generalised eigenproblem ``C' R C = I``, ``C' G C = diag(lambda)``
(``R = L L'``, ``L^-1 G L^-T = W diag(lambda) W'``, ``C = L^-T W``) give
``V^-1 = Omega diag(w) Omega'`` with ``Omega = C (x) U`` and
``w_{e,s} = 1 / (lambda_e d_s + 1)``: for complete rows the traits decouple into ``t``
EMMA problems, ``O(n t p^2)`` per iteration.

Missing traits (``m`` missing entries on the fitted rows). ``V_oo^-1`` embedded in the
full ``nt`` space is the Schur complement (exact; Woodbury on the ``m`` missing entries)::

    Pi = V^-1 - V^-1 S_m' H^-1 S_m V^-1,     H = S_m V^-1 S_m'  (m x m),

zero on the missing rows and columns; ``log|V_oo| = log|V| + log|H|``. In the rotated
coordinates ``F = diag(w) Omega' S_m'`` has entries ``w_{e,s} C_{a e} U_{i s}`` for the
missing entry ``(a, i)``, so ``H = F' diag(1/w) F`` costs ``O(t n m^2)`` and the traces
below ``O(n t m^2)`` (one triangular solve) per iteration: exact, and ``O(n t p^2)``
when no trait is missing.

EM-REML (the complete data are ``U``, ``E`` and the missing entries)::

    Pt   = Pi - Pi X (X' Pi X)^-1 X' Pi         (REML; ML: Pt = Pi),
    A    = Pt y0  (t x n, zero at missing entries; y0 = Y with zeros there),
    T_M  = [tr(Pt_cd M)]_cd,   T_I = [tr(Pt_cd)]_cd,
    G   <- G + G (A M A' - T_M) G / rank(K),
    R   <- R + R (A A'  - T_I) R / n,

the univariate update ``s2 <- s2 + s2^2 (y'PMPy - tr(PM)) / r`` with matrices.
``B`` is the GLS estimate ``(X' Pi X)^-1 X' Pi y0``, ``vec(U_hat) = (G (x) K Z') vec(A)``
and the conditional expectation of every entry given the observed ones (GLS ``B``) is
``X B + Z U_hat + A' R``. Log-likelihood (lme4's constants, ``N`` observed entries)::

    ML   -(1/2)[N log 2 pi + log|V_oo| + y0' Pt y0]
    REML -(1/2)[(N - t p) log 2 pi + log|V_oo| + log|X' Pi X| + y0' Pt y0],
    log|V| = sum_{e,s} log(lambda_e d_s + 1) + n log|R|.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from imputer._util import LOG_2PI

__all__ = ["MultiTraitEngine", "MultiEstimates"]


@dataclass(frozen=True, eq=False)
class MultiEstimates:
    """Estimates at given ``(G, R)``.

    Attributes
    ----------
    B : ndarray, shape (p, t)
        GLS fixed effects (of the engine's centred response).
    A : ndarray, shape (t, n)
        ``Pt y0`` on the fitted rows (zero at missing entries).
    """

    B: np.ndarray
    A: np.ndarray


@dataclass(frozen=True, eq=False)
class _State:
    loglik: float
    A: np.ndarray  # (t, n) original coordinates
    Ahat: np.ndarray  # (t, n) rotated coordinates
    B: np.ndarray  # (p, t)
    TM: np.ndarray  # (t, t)
    TI: np.ndarray  # (t, t)
    C: np.ndarray


class MultiTraitEngine:
    """Log-likelihood and EM map of the multi-trait model (module docstring).

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Fixed-effect design of the fitted rows (shared by the traits).
    Y : ndarray, shape (n, t)
        Response of the fitted rows, NaN where missing (every row has an observed trait).
    s : ndarray, shape (n,)
        Eigenvalues ``d`` of ``M = Z K Z'`` (clipped at 0).
    U : ndarray, shape (n, n)
        Its eigenvectors.
    rank : int
        ``rank(K)`` (the M-step's divisor for ``G``).
    ml : bool
    """

    def __init__(self, X: np.ndarray, Y: np.ndarray, s: np.ndarray, U: np.ndarray, rank: int, ml: bool):
        self.n, self.p = X.shape
        self.t = Y.shape[1]
        self.ml = ml
        self.rank = rank
        self.d = s
        self.U = U
        miss = np.isnan(Y)
        self.n_obs = int((~miss).sum())
        Y0 = np.where(miss, 0.0, Y)
        self.Yt = U.T @ Y0  # (n, t): rotated rows
        self.Xt = U.T @ X  # (n, p)
        # missing entries, trait-major: (trait a, row i)
        a_idx, i_idx = np.nonzero(miss.T)
        self.m = a_idx.size
        self.miss_trait = a_idx
        self.miss_row = i_idx
        self.Um = U[i_idx, :]  # (m, n)

    # ---------------------------------------------------------------- core
    def _canonical(self, G: np.ndarray, R: np.ndarray):
        Lr = np.linalg.cholesky(R)
        Li = sla.solve_triangular(Lr, np.eye(self.t), lower=True)
        S = Li @ G @ Li.T
        lam, W = np.linalg.eigh(0.5 * (S + S.T))
        lam = np.clip(lam, 0.0, None)
        C = Li.T @ W
        return C, lam, 2.0 * float(np.sum(np.log(np.diag(Lr))))

    def state(self, G: np.ndarray, R: np.ndarray, traces: bool = True) -> _State | None:
        """Everything one iteration needs at ``(G, R)``; None if not evaluable."""
        t, n, p = self.t, self.n, self.p
        try:
            C, lam, logdetR = self._canonical(G, R)
        except np.linalg.LinAlgError:
            return None
        w = 1.0 / (lam[:, None] * self.d[None, :] + 1.0)  # (t, n)
        yhat = C.T @ self.Yt.T  # (t, n) rotated y0
        # transformed design Xhat = C' (x) Xt: column (a, j) of trait e is C[a, e] Xt[:, j]
        Xhat = np.einsum("ae,sj->esaj", C, self.Xt).reshape(t, n, t * p)
        logdetV = float(np.sum(np.log1p(lam[:, None] * self.d[None, :]))) + n * logdetR
        if self.m:
            # F[(e, s), alpha] = w_es C[a_alpha, e] U[i_alpha, s]
            F = (w[:, :, None] * self.Um.T[None, :, :]) * C[self.miss_trait, :].T[:, None, :]
            Fw = F.reshape(t * n, self.m)
            H = (F / w[:, :, None]).reshape(t * n, self.m).T @ Fw
            try:
                cf = sla.cho_factor(H, lower=True, check_finite=False)
            except sla.LinAlgError:
                return None
            logdetV += 2.0 * float(np.sum(np.log(np.diag(cf[0]))))

            def pi(v: np.ndarray) -> np.ndarray:  # v: (t*n, k)
                return w.reshape(-1, 1) * v - Fw @ sla.cho_solve(cf, Fw.T @ v, check_finite=False)
        else:
            Fw = cf = None

            def pi(v: np.ndarray) -> np.ndarray:
                return w.reshape(-1, 1) * v

        Xf = Xhat.reshape(t * n, t * p)
        PiX = pi(Xf)
        Phi = Xf.T @ PiX
        try:
            cphi = sla.cho_factor(Phi, lower=True, check_finite=False)
        except sla.LinAlgError:
            return None
        yv = yhat.reshape(-1, 1)
        Piy = pi(yv)
        b = sla.cho_solve(cphi, Xf.T @ Piy, check_finite=False)
        ahat = (Piy - PiX @ b).reshape(t, n)
        quad = float(yv[:, 0] @ ahat.ravel())
        N = self.n_obs
        if self.ml:
            ll = -0.5 * (N * LOG_2PI + logdetV + quad)
        else:
            logdetPhi = 2.0 * float(np.sum(np.log(np.diag(cphi[0]))))
            ll = -0.5 * ((N - t * p) * LOG_2PI + logdetV + logdetPhi + quad)
        A = C @ ahat @ self.U.T
        B = b.reshape(t, p).T
        if not traces:
            return _State(ll, A, ahat, B, np.zeros((t, t)), np.zeros((t, t)), C)
        # traces in rotated coordinates: Gamma^D_ef = sum_s D_s <Pt_(e,s) column parts>
        GD = np.diag(w @ self.d)
        GI = np.diag(w.sum(axis=1))
        if self.m:
            J = sla.solve_triangular(cf[0], Fw.T, lower=True, check_finite=False)  # (m, t*n)
            J3 = J.reshape(self.m, t, n)
            GD = GD - np.einsum("mes,mfs,s->ef", J3, J3, self.d, optimize=True)
            GI = GI - np.einsum("mes,mfs->ef", J3, J3, optimize=True)
        if not self.ml:
            Zc = sla.cho_solve(cphi, PiX.T, check_finite=False).T.reshape(t, n, t * p)  # Pi X Phi^-1
            Y3 = PiX.reshape(t, n, t * p)
            GD = GD - np.einsum("esk,fsk,s->ef", Zc, Y3, self.d, optimize=True)
            GI = GI - np.einsum("esk,fsk->ef", Zc, Y3, optimize=True)
        GD = 0.5 * (GD + GD.T)
        GI = 0.5 * (GI + GI.T)
        return _State(ll, A, ahat, B, C @ GD @ C.T, C @ GI @ C.T, C)

    def evaluate(self, G: np.ndarray, R: np.ndarray) -> tuple[float, tuple[np.ndarray, np.ndarray] | None]:
        """Log-likelihood at ``(G, R)`` and the EM update ``(G', R')`` (None: not evaluable)."""
        st = self.state(G, R)
        if st is None or not np.isfinite(st.loglik):
            return -np.inf, None
        C = st.C
        QM = C @ ((st.Ahat * self.d) @ st.Ahat.T) @ C.T
        QI = C @ (st.Ahat @ st.Ahat.T) @ C.T
        Gn = G + G @ (QM - st.TM) @ G / self.rank
        Rn = R + R @ (QI - st.TI) @ R / self.n
        Gn = 0.5 * (Gn + Gn.T)
        Rn = 0.5 * (Rn + Rn.T)
        if not (np.all(np.isfinite(Gn)) and np.all(np.isfinite(Rn))):
            return -np.inf, None
        return st.loglik, (Gn, Rn)

    def final(self, G: np.ndarray, R: np.ndarray) -> MultiEstimates:
        """``B`` (p, t) and ``A = Pt y0`` (t, n) at ``(G, R)``."""
        st = self.state(G, R, traces=False)
        if st is None:
            raise np.linalg.LinAlgError("X' V^-1 X or V is not positive definite at the estimate")
        return MultiEstimates(B=st.B, A=st.A)
