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

Missing traits (``m`` missing entries on the fitted rows; ``U_a`` = the rows of ``U``
where trait ``a`` is missing, ``m_a x n``). ``V_oo^-1`` embedded in the full ``nt``
space is the Schur complement (exact; Woodbury on the ``m`` missing entries)::

    Pi = V^-1 - V^-1 S_m' H^-1 S_m V^-1,     H = S_m V^-1 S_m'  (m x m),

zero on the missing rows and columns; ``log|V_oo| = log|V| + log|H|``. Block ``(a, b)``
of ``H`` is ``U_a diag(omega_ab) U_b'`` with ``omega_ab = sum_e C_ae C_be w_e`` (one
product of the missing rows of ``U``, ``O(m^2 n)`` in all, not ``O(t n m^2)``), and the
traces below need the diagonals ``D_ab(s) = [U_a' (H^-1)_ab U_b]_ss`` (the inverse of
``H``'s Cholesky factor times the ``U_a``, ``O(m^2 n)``); both products are made for the
lower triangle only, about ``m^2 n / 2`` multiply-adds each, the only ``O(m^2 n)`` work
of an evaluation; applying ``Pi`` to a vector costs ``O(m n)``.

EM-REML (the complete data are ``U``, ``E`` and the missing entries)::

    Pt   = Pi - Pi X (X' Pi X)^-1 X' Pi         (REML; ML: Pt = Pi),
    A    = Pt y0  (t x n, zero at missing entries; y0 = Y with zeros there),
    T_M  = [tr(Pt_cd M)]_cd,   T_I = [tr(Pt_cd)]_cd,
    G   <- G + G (A M A' - T_M) G / rank(K),
    R   <- R + R (A A'  - T_I) R / n,

the univariate update ``s2 <- s2 + s2^2 (y'PMPy - tr(PM)) / r`` with matrices. The same
quantities give the REML score and the average information (AI-REML; Gilmour, Thompson
and Cullis 1995) for ``theta = (vech G, vech R)``, ``V_i = dV / d theta_i``
(``E_ab (x) M`` or ``E_ab (x) I``, ``E_ab`` symmetric with ones at ``(a, b)`` and ``(b, a)``)::

    score_i = (1/2) [A' V_i A - tr(Pt V_i)]      (A M A' - T_M, A A' - T_I, off-diagonals twice)
    AI_ij   = (1/2) (V_i A)' Pt (V_j A),

where ``Omega' V_i A`` is ``(C' E_ab C) Ahat diag(d)`` or ``(C' E_ab C) Ahat`` in the rotated
coordinates: ``2 t(t+1)/2`` more applications of ``Pt``, ``O(m n)`` each.
``B`` is the GLS estimate ``(X' Pi X)^-1 X' Pi y0``, ``vec(U_hat) = (G (x) K Z') vec(A)``
and the conditional expectation of every entry given the observed ones (GLS ``B``) is
``X B + Z U_hat + A' R``. Log-likelihood (lme4's constants, ``N`` observed entries)::

    ML   -(1/2)[N log 2 pi + log|V_oo| + y0' Pt y0]
    REML -(1/2)[(N - t p) log 2 pi + log|V_oo| + log|X' Pi X| + y0' Pt y0],
    log|V| = sum_{e,s} log(lambda_e d_s + 1) + n log|R|.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack

from imputer._util import LOG_2PI

__all__ = ["Evaluation", "MultiTraitEngine", "MultiEstimates"]

#: Width of the column (row) chunks in which the triangular products are made: the
#: triangle's upper part inside a chunk is the only wasted work (256 of ~400-wide blocks
#: in the n = 2,000 benchmark: 25% fewer multiply-adds for ``H`` and the trace columns).
_CHUNK = 256


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
    U: np.ndarray  # (n, n) the engine's eigenvectors (for A)
    Ahat: np.ndarray  # (t, n) rotated coordinates
    B: np.ndarray  # (p, t)
    TM: np.ndarray  # (t, t)
    TI: np.ndarray  # (t, t)
    C: np.ndarray
    AI: np.ndarray | None = None  # (2w, 2w) average information over (vech G, vech R)
    traced: bool = True  # TM and TI computed

    @cached_property
    def A(self) -> np.ndarray:
        """``Pt y0`` (t, n) in the original coordinates (made when first asked: the estimate's only)."""
        return self.C @ self.Ahat @ self.U.T


@dataclass(frozen=True, eq=False)
class Evaluation:
    """One evaluation at ``(G, R)``: log-likelihood, EM update, REML score and AI matrix.

    Attributes
    ----------
    loglik : float
    em : tuple of ndarray (t, t) or None
        The EM update ``(G', R')`` (None if not finite).
    score : ndarray, shape (2w,)
        Gradient of ``loglik`` over ``(vech G, vech R)`` (lower triangles row by row).
    ai : ndarray, shape (2w, 2w)
        Average information matrix (module docstring).
    """

    loglik: float
    em: tuple[np.ndarray, np.ndarray] | None
    score: np.ndarray
    ai: np.ndarray


class MultiTraitEngine:
    """Log-likelihood, EM map, score and AI matrix of the multi-trait model (module docstring).

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
        # missing entries, trait-major: the rows of U where trait a is missing
        self.Ua = [np.ascontiguousarray(U[np.flatnonzero(miss[:, a]), :]) for a in range(self.t)]
        self.off = np.concatenate([[0], np.cumsum([u.shape[0] for u in self.Ua])]).astype(int)
        self.m = int(self.off[-1])
        self.tri = np.tril_indices(self.t)
        # one Fortran-ordered m x m buffer for H and its factor (LAPACK works on it in place)
        self._hbuf = np.empty((self.m, self.m), order="F") if self.m else None
        self._last: tuple[bytes, _State] | None = None  # the last full state, reused by final()

    # ---------------------------------------------------------------- core
    def _canonical(self, G: np.ndarray, R: np.ndarray):
        Lr = np.linalg.cholesky(R)
        Li = sla.solve_triangular(Lr, np.eye(self.t), lower=True)
        S = Li @ G @ Li.T
        lam, W = np.linalg.eigh(0.5 * (S + S.T))
        lam = np.clip(lam, 0.0, None)
        C = Li.T @ W
        return C, lam, 2.0 * float(np.sum(np.log(np.diag(Lr))))

    def _h_factor(self, C: np.ndarray, w: np.ndarray) -> np.ndarray | None:
        """Lower Cholesky factor of ``H`` (m x m, Fortran order), blocks ``U_a diag(omega_ab) U_b'``.

        Column block ``a`` below the diagonal is ``[U_b diag(omega_ab)]_{b >= a} U_a'``, made in
        column chunks of :data:`_CHUNK` from the chunk's diagonal down (the lower triangle only:
        ``m^2 n / 2`` multiply-adds), written into the engine's buffer; the factor overwrites
        it (valid until the next call).
        """
        H = self._hbuf
        o, t = self.off, self.t
        for a in range(t):
            if o[a] == o[a + 1]:
                continue
            Q = np.empty((self.m - o[a], self.n))
            for b in range(a, t):
                om = (C[a] * C[b]) @ w  # (n,)
                np.multiply(self.Ua[b], om, out=Q[o[b] - o[a]:o[b + 1] - o[a]])
            for c0 in range(0, o[a + 1] - o[a], _CHUNK):
                c1 = min(c0 + _CHUNK, o[a + 1] - o[a])
                H[o[a] + c0:, o[a] + c0:o[a] + c1] = Q[c0:] @ self.Ua[a][c0:c1].T
        try:
            Lh = sla.cholesky(H, lower=True, overwrite_a=True, check_finite=False)
        except (sla.LinAlgError, ValueError):
            return None
        return Lh if np.all(np.isfinite(np.diag(Lh))) else None

    def _pi(self, v: np.ndarray, C: np.ndarray, w: np.ndarray, Lh: np.ndarray | None) -> np.ndarray:
        """``Pi`` in the rotated coordinates applied to ``v`` (t, n, k)."""
        wv = w[:, :, None] * v
        if not self.m:
            return wv
        o = self.off
        Zall = np.einsum("ae,esk->ask", C, wv)
        g = np.concatenate([self.Ua[a] @ Zall[a] for a in range(self.t)])  # (m, k)
        u = sla.cho_solve((Lh, True), g, check_finite=False)
        h = np.stack([self.Ua[a].T @ u[o[a]:o[a + 1]] for a in range(self.t)])  # (t, n, k)
        return wv - w[:, :, None] * np.einsum("ae,ask->esk", C, h)

    def _h_diagonals(self, Lh: np.ndarray) -> np.ndarray | None:
        """``D[a, b, s] = [U_a' (H^-1)_ab U_b]_ss`` (t, t, n).

        With ``L^-1`` (LAPACK ``trtri``, ``m^3 / 6`` multiply-adds) the columns ``J_a = [L^-1]_{.a} U_a``
        (zero above block ``a``) are plain products, ``sum_a m_a (m - o_a) n`` multiply-adds
        (``2/3 m^2 n`` for equal blocks of three traits), and ``D_ab(s) = J_a(s)' J_b(s)``.
        None if ``L`` is singular.
        """
        t, n, o = self.t, self.n, self.off
        Li, info = lapack.dtrtri(Lh, lower=1)
        if info != 0 or not np.all(np.isfinite(Li)):
            return None
        J = [self._lower_product(Li[o[a]:, o[a]:o[a + 1]], self.Ua[a]) for a in range(t)]
        D = np.zeros((t, t, n))
        for a in range(t):
            for b in range(a, t):
                if o[b] == self.m:
                    continue
                D[a, b] = np.einsum("ks,ks->s", J[a][o[b] - o[a]:], J[b])
                D[b, a] = D[a, b]
        return D

    @staticmethod
    def _lower_product(L: np.ndarray, B: np.ndarray) -> np.ndarray:
        """``L B`` for ``L`` (k x j, k >= j) lower triangular in its top ``j x j`` block.

        Row chunks of :data:`_CHUNK` in the top block use the columns up to their diagonal
        only (half of that block's multiply-adds saved).
        """
        k, j = L.shape
        out = np.empty((k, B.shape[1]))
        for r0 in range(0, j, _CHUNK):
            r1 = min(r0 + _CHUNK, j)
            np.matmul(L[r0:r1, :r1], B[:r1], out=out[r0:r1])
        if k > j:
            np.matmul(L[j:], B, out=out[j:])
        return out

    def state(self, G: np.ndarray, R: np.ndarray, traces: bool = True, ai: bool = False) -> _State | None:
        """Everything one iteration needs at ``(G, R)``; None if not evaluable.

        The last state is kept: asked again at the same ``(G, R)`` for no more than it has
        (the fit's final call at the estimate), it is returned without being recomputed.
        """
        key = np.concatenate([np.ravel(G), np.ravel(R)]).tobytes()
        if self._last is not None and self._last[0] == key:
            last = self._last[1]
            if (last.traced or not traces) and (last.AI is not None or not ai):
                return last
        st = self._state(G, R, traces, ai)
        if st is not None:
            self._last = (key, st)
        return st

    def _state(self, G: np.ndarray, R: np.ndarray, traces: bool, ai: bool) -> _State | None:
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
        Lh = None
        if self.m:
            Lh = self._h_factor(C, w)
            if Lh is None:
                return None
            logdetV += 2.0 * float(np.sum(np.log(np.diag(Lh))))
        both = self._pi(np.concatenate([Xhat, yhat[:, :, None]], axis=2), C, w, Lh)  # Pi [X, y0]
        PiX = np.ascontiguousarray(both[:, :, :-1])
        Xf, PiXf = Xhat.reshape(t * n, t * p), PiX.reshape(t * n, t * p)
        Phi = Xf.T @ PiXf
        try:
            cphi = sla.cho_factor(Phi, lower=True, check_finite=False)
        except sla.LinAlgError:
            return None
        Piy = both[:, :, -1].reshape(-1, 1)
        b = sla.cho_solve(cphi, Xf.T @ Piy, check_finite=False)
        ahat = (Piy - PiXf @ b).reshape(t, n)
        quad = float(yhat.ravel() @ ahat.ravel())
        N = self.n_obs
        if self.ml:
            ll = -0.5 * (N * LOG_2PI + logdetV + quad)
        else:
            logdetPhi = 2.0 * float(np.sum(np.log(np.diag(cphi[0]))))
            ll = -0.5 * ((N - t * p) * LOG_2PI + logdetV + logdetPhi + quad)
        B = b.reshape(t, p).T
        if not traces:
            return _State(ll, self.U, ahat, B, np.zeros((t, t)), np.zeros((t, t)), C, traced=False)
        # traces in rotated coordinates: Gamma^D_ef = sum_s d_s Pt_(e,s),(f,s)
        GD = np.diag(w @ self.d)
        GI = np.diag(w.sum(axis=1))
        if self.m:
            D = self._h_diagonals(Lh)
            if D is None:
                return None
            E = np.einsum("ae,abs,bf->efs", C, D, C) * (w[:, None, :] * w[None, :, :])
            GD = GD - E @ self.d
            GI = GI - E.sum(axis=2)
        if not self.ml:
            Zc = sla.cho_solve(cphi, PiXf.T, check_finite=False).T.reshape(t, n, t * p)  # Pi X Phi^-1
            GD = GD - np.einsum("esk,fsk,s->ef", Zc, PiX, self.d, optimize=True)
            GI = GI - np.einsum("esk,fsk->ef", Zc, PiX, optimize=True)
        GD = 0.5 * (GD + GD.T)
        GI = 0.5 * (GI + GI.T)
        AI = self._ai(C, w, Lh, ahat, PiXf, cphi) if ai else None
        return _State(ll, self.U, ahat, B, C @ GD @ C.T, C @ GI @ C.T, C, AI)

    def _ai(self, C, w, Lh, ahat, PiXf, cphi) -> np.ndarray:
        """Average information over ``(vech G, vech R)`` (module docstring)."""
        t, n = self.t, self.n
        ad = ahat * self.d
        vecs = []
        for base in (ad, ahat):
            for a, b in zip(*self.tri):
                E = np.outer(C[a], C[b])
                if a != b:
                    E = E + E.T
                vecs.append(E @ base)
        Vv = np.stack(vecs, axis=2)  # (t, n, 2w)
        Pv = self._pi(Vv, C, w, Lh).reshape(t * n, -1)
        if not self.ml:
            Pv = Pv - PiXf @ sla.cho_solve(cphi, PiXf.T @ Vv.reshape(t * n, -1), check_finite=False)
        AI = 0.5 * Vv.reshape(t * n, -1).T @ Pv
        return 0.5 * (AI + AI.T)

    def _em_update(self, G, R, st: _State) -> tuple[np.ndarray, np.ndarray] | None:
        C = st.C
        QM = C @ ((st.Ahat * self.d) @ st.Ahat.T) @ C.T
        QI = C @ (st.Ahat @ st.Ahat.T) @ C.T
        Gn = G + G @ (QM - st.TM) @ G / self.rank
        Rn = R + R @ (QI - st.TI) @ R / self.n
        Gn = 0.5 * (Gn + Gn.T)
        Rn = 0.5 * (Rn + Rn.T)
        if not (np.all(np.isfinite(Gn)) and np.all(np.isfinite(Rn))):
            return None
        return Gn, Rn

    def evaluate(self, G: np.ndarray, R: np.ndarray) -> tuple[float, tuple[np.ndarray, np.ndarray] | None]:
        """Log-likelihood at ``(G, R)`` and the EM update ``(G', R')`` (None: not evaluable)."""
        st = self.state(G, R)
        if st is None or not np.isfinite(st.loglik):
            return -np.inf, None
        return st.loglik, self._em_update(G, R, st)

    def evaluate_full(self, G: np.ndarray, R: np.ndarray) -> Evaluation | None:
        """Log-likelihood, EM update, score and AI matrix at ``(G, R)`` (None: not evaluable)."""
        st = self.state(G, R, ai=True)
        if st is None or not np.isfinite(st.loglik):
            return None
        C = st.C
        QM = C @ ((st.Ahat * self.d) @ st.Ahat.T) @ C.T
        QI = C @ (st.Ahat @ st.Ahat.T) @ C.T
        twice = np.where(self.tri[0] == self.tri[1], 1.0, 2.0)
        score = 0.5 * np.concatenate([(QM - st.TM)[self.tri] * twice, (QI - st.TI)[self.tri] * twice])
        return Evaluation(st.loglik, self._em_update(G, R, st), score, st.AI)

    def final(self, G: np.ndarray, R: np.ndarray) -> MultiEstimates:
        """``B`` (p, t) and ``A = Pt y0`` (t, n) at ``(G, R)``."""
        st = self.state(G, R, traces=False)
        if st is None:
            raise np.linalg.LinAlgError("X' V^-1 X or V is not positive definite at the estimate")
        return MultiEstimates(B=st.B, A=st.A)
