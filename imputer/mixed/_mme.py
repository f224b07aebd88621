r"""Henderson's mixed-model equations: factorisation, REML/ML log-likelihood, EM map.

On the ``n`` rows with observed ``y`` the model is

.. math::

    y = X b + \sum_i Z^*_i v_i + e,\qquad v_i \sim N(0, I_{q_i} \otimes G_i),\qquad
    e \sim N(0, \sigma^2_e I_n),

with ``Z*_i = Z_i L_i`` in level-major columns (:mod:`imputer.mixed._gram`), ``q_i``
levels (``rank(K_i)`` for a kernel term) and ``d_i`` effects per level with covariance
``G_i`` (``d_i = 1``: ``G_i = s2_i``). With ``W = [X, Z*_1, ..., Z*_k]``,
``P_i = s2_e G_i^-1`` and ``D = diag(0_p, I (x) P_1, ..., I (x) P_k)`` the mixed-model
equations are ``C [b; v] = W'y`` with ``C = W'W + D``. Per iteration, from ``W'W``,
``W'y`` and ``y'y`` only (``m_z = sum_i q_i d_i``):

* ``log|V| = n log s2_e + sum_i q_i (log|G_i| - d_i log s2_e) + log|C_zz|`` and
  ``log|X'V^-1 X| = -p log s2_e + log|C| - log|C_zz|`` (``C_zz`` the random-effect block),
* ``r'V^-1 r = (y'y - [b; v]'W'y) / s2_e``,
* REML log-likelihood ``-(1/2)[(n-p) log 2 pi + (n-p) log s2_e + sum_i q_i (log|G_i| -
  d_i log s2_e) + log|C| + r'V^-1 r]`` (lme4's ``logLik`` convention), ML
  ``-(1/2)[n log 2 pi + n log s2_e + sum_i q_i (log|G_i| - d_i log s2_e) + log|C_zz| +
  r'V^-1 r]``.

EM (``v`` and ``e`` missing data; REML also integrates ``b`` out). With ``V_i`` the
``q_i x d_i`` matrix of ``v_i``, ``T_i = sum_l C^{(i,l)}`` the sum over levels of the
``d_i x d_i`` diagonal blocks of ``C^-1`` (REML) or ``C_zz^-1`` (ML), and ``e'e = y'y -
[b;v]'W'y - sum_i tr(P_i V_i'V_i)``::

    G_i  <- (V_i'V_i + s2_e T_i) / q_i            (its diagonal only for a "diag" term)
    s2_e <- (e'e + s2_e (p_REML + sum_i q_i d_i - sum_i tr(P_i T_i))) / n

(``p_REML = p`` for REML, 0 for ML): the closed-form unstructured M-step
``G = (U'U + sum of PEV blocks) / q``. Each step never decreases the likelihood.

Factorisation: one random term whose ``Z*'Z*`` is block diagonal (a grouping factor
with its covariates and ``K = I``, the largest such) is eliminated level by level
through its ``d x d`` blocks; the rest (``X`` and the other effects, size ``m``) forms
a dense Schur complement ``S = A - B diag(Z_l'Z_l + P)^-1 B'`` that is Cholesky-factored.
An iteration costs ``O(m^3 + m^2 q_e d_e)``: for two crossed factors with 1,000 and 50
levels, ``m = 52``; for random intercepts and slopes of 2,000 subjects, ``m = p``.

Sparse coupling. When the eliminated term has one effect and the coupling
``B = W_a' Z*_e`` (``m x q_e``) is large and sparse (at least ``SPARSE_MIN_SIZE``
entries, at most ``SPARSE_DENSITY`` of them non-zero; InstEval's students against its
lecturers: 1,166 x 2,972, 3% non-zero), ``B`` stays sparse: ``B D^-1 B'`` is a sparse
product (``sum_l nnz_l^2`` flops instead of ``m^2 q_e``), and so is ``Bs Bs'`` in the
eliminated term's trace ``sum(1/dg) + <S^-1, Bs Bs'>``, with ``S^-1`` from LAPACK's
``potri`` on the Cholesky factor (``2 m^3 / 3`` flops): no dense ``B`` is formed. ``S`` itself is dense there (the students link most pairs of
lecturers), so it keeps its dense Cholesky factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg.lapack import dpotri

from imputer._util import LOG_2PI
from imputer.mixed._gram import Gram, block_sum
from imputer.mixed._problem import Layout

__all__ = ["Gram", "System", "Factor", "Solution"]

#: The coupling ``B`` of the dense part to a one-effect eliminated term is kept sparse
#: when at most this share of its entries is non-zero ...
SPARSE_DENSITY = 0.1
#: ... and it has at least this many entries (small blocks stay dense: same arithmetic
#: as before for every model whose ``B`` is small or dense; ScotsSec's 170 x 1,000-odd
#: block, 3% non-zero, is already 1.4x faster sparse).
SPARSE_MIN_SIZE = 20_000


@dataclass
class Factor:
    """Factorisation of ``C`` at one value of the covariance parameters."""

    Lc: np.ndarray  # Cholesky factor of S (lower)
    Dinv: np.ndarray | None  # inverse blocks of the eliminated term: (q_e,) for d = 1, else (q_e, d, d)
    Bs: np.ndarray | sp.csr_matrix | None  # B blockdiag(Dinv), shape (m, q_e d_e) (sparse with B)
    sol_a: np.ndarray
    sol_e: np.ndarray | None
    logdet_c: float
    logdet_e: float = 0.0  # log-determinant of the eliminated blocks
    Lzz: np.ndarray | None = None  # Cholesky of S_zz (ML)
    logdet_czz: float = 0.0


@dataclass(frozen=True, eq=False)
class Solution:
    """Solution and prediction-error quantities of the mixed-model equations at an estimate.

    Attributes
    ----------
    b : ndarray, shape (p,)
    var_b : ndarray, shape (p, p)
        ``s2_e [C^-1]_XX``.
    v : dict of int -> ndarray (r_i,)
        Per active term, its solution ``v_i`` (level-major).
    Cii : dict of int -> ndarray
        Per active term, its block of ``C^-1``: full (r_i, r_i) for a kernel term, else
        the diagonal blocks (q_i, d_i, d_i).
    """

    b: np.ndarray
    var_b: np.ndarray
    v: dict[int, np.ndarray]
    Cii: dict[int, np.ndarray]


def _apply_blocks(Dinv: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``blockdiag(Dinv) x`` for ``x`` of shape (q d,) or (q d, c)."""
    if Dinv.ndim == 1:
        return x * Dinv if x.ndim == 1 else x * Dinv[:, None]
    q, d, _ = Dinv.shape
    if x.ndim == 1:
        return np.einsum("lab,lb->la", Dinv, x.reshape(q, d)).ravel()
    return np.einsum("lab,lbc->lac", Dinv, x.reshape(q, d, -1)).reshape(q * d, -1)


def penalties(layout: Layout, sig2: np.ndarray, s2e: float, active: tuple[int, ...]):
    """``P_i = s2_e G_i^-1`` and ``log|G_i|`` per active term (None if some ``G_i`` is not positive definite)."""
    P: dict[int, np.ndarray] = {}
    logdet: dict[int, float] = {}
    for i in active:
        G = layout.matrix(sig2, i)
        if G.shape[0] == 1:
            if not G[0, 0] > 0:
                return None
            P[i] = np.array([[s2e / G[0, 0]]])
            logdet[i] = float(np.log(G[0, 0]))
            continue
        try:
            Lg = np.linalg.cholesky(G)
        except np.linalg.LinAlgError:
            return None
        Li = sla.solve_triangular(Lg, np.eye(G.shape[0]), lower=True, check_finite=False)
        P[i] = s2e * (Li.T @ Li)
        logdet[i] = 2.0 * float(np.sum(np.log(np.diag(Lg))))
    return P, logdet


class System:
    """The mixed-model equations for a fixed set of active terms.

    Parameters
    ----------
    gram : Gram
    active : tuple of int
        Terms with positive definite covariance; the others are fixed at zero and left out.
    """

    def __init__(self, gram: Gram, active: tuple[int, ...]):
        g = gram
        self.g = g
        self.active = active
        cands = [i for i in active if g.block_ok[i]]
        self.e = max(cands, key=lambda i: g.r[i]) if cands else None
        self.dense = [i for i in active if i != self.e]
        self.sl: dict[int, slice] = {}
        off = g.p
        for i in self.dense:
            self.sl[i] = slice(off, off + g.r[i])
            off += g.r[i]
        self.m = off
        p = g.p
        A = np.empty((self.m, self.m))
        rhs = np.empty(self.m)
        A[:p, :p] = g.XtX
        rhs[:p] = g.Xty
        for i in self.dense:
            A[:p, self.sl[i]] = g.XtZ[i]
            A[self.sl[i], :p] = g.XtZ[i].T
            rhs[self.sl[i]] = g.Zty[i]
            for j in self.dense:
                A[self.sl[i], self.sl[j]] = g.ZZ(i, j)
        self.A0 = A
        self.rhs_a = rhs
        # positions of the diagonal d x d blocks of each dense term, in (level, a, b) order
        self.pidx: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for i in self.dense:
            d, q = g.d[i], g.nl[i]
            base = self.sl[i].start + np.arange(q) * d
            rows = np.broadcast_to(base[:, None, None] + np.arange(d)[None, :, None], (q, d, d))
            cols = np.broadcast_to(base[:, None, None] + np.arange(d)[None, None, :], (q, d, d))
            self.pidx[i] = (rows.ravel(), cols.ravel())
        if self.e is not None:
            e = self.e
            B = self.cross_sparse(e)
            self.sparse = g.d[e] == 1 and B.nnz <= SPARSE_DENSITY * B.shape[0] * B.shape[1] and (
                B.shape[0] * B.shape[1] >= SPARSE_MIN_SIZE
            )
            if self.sparse:
                # InstEval: 1,157 x 2,972 with 2.7% non-zero; S's update B D^-1 B' is then a
                # sparse product (sum over levels of nnz_l^2) instead of an m^2 q_e GEMM
                self.B = B.tocsr()
                self.B.sort_indices()
                self.BT = self.B.T.tocsr()
            else:
                self.B = B.toarray()
            self.blocks = g.blocks[e]
            self.rhs_e = g.Zty[e]
        else:
            self.B = None
            self.sparse = False

    def cross(self, j: int) -> np.ndarray:
        """Rows of ``W_a' Z*_j`` for the dense part, shape (m, r_j)."""
        g = self.g
        out = np.empty((self.m, g.r[j]))
        out[: g.p] = g.XtZ[j]
        for i in self.dense:
            out[self.sl[i]] = g.ZZ(i, j)
        return out

    def cross_sparse(self, j: int) -> sp.csr_matrix:
        """:meth:`cross` as a sparse matrix (no dense ``m x r_j`` array formed)."""
        g = self.g
        parts = [sp.csr_matrix(g.XtZ[j])]
        for i in self.dense:
            b = g.ZZ(i, j, dense=False)
            parts.append(b if sp.issparse(b) else sp.csr_matrix(b))
        return sp.vstack(parts, format="csr")

    # ------------------------------------------------------------------ factorisation
    def factor(self, P: dict[int, np.ndarray], ml: bool) -> Factor | None:
        """Factor ``C`` at the penalties ``P`` (per active term); None if not positive definite."""
        g = self.g
        A = self.A0.copy()
        for i in self.dense:
            A[self.pidx[i]] += np.tile(P[i].ravel(), g.nl[i])
        rhs = self.rhs_a
        Dinv = Bs = None
        logdet_e = 0.0
        if self.e is not None:
            e = self.e
            if g.d[e] == 1:
                dg = self.blocks[:, 0, 0] + P[e][0, 0]
                Dinv = 1.0 / dg
                logdet_e = float(np.sum(np.log(dg)))
                if self.sparse:
                    B = self.B
                    Bs = sp.csr_matrix((B.data * Dinv[B.indices], B.indices, B.indptr), shape=B.shape)
                    A -= (Bs @ self.BT).toarray()
                else:
                    Bs = self.B / dg
            else:
                Dg = self.blocks + P[e]
                try:
                    Lg = np.linalg.cholesky(Dg)
                except np.linalg.LinAlgError:
                    return None
                logdet_e = 2.0 * float(np.sum(np.log(np.einsum("laa->la", Lg))))
                Dinv = np.linalg.inv(Dg)
                Bs = _apply_blocks(Dinv, self.B.T).T
            if not self.sparse:
                A -= Bs @ self.B.T
            rhs = rhs - Bs @ self.rhs_e
        try:
            Lc = sla.cholesky(A, lower=True, check_finite=False)
        except sla.LinAlgError:
            return None
        dl = np.diag(Lc)
        if not np.all(dl > 0) or not np.all(np.isfinite(dl)):
            return None
        logdet = logdet_e + 2.0 * float(np.sum(np.log(dl)))
        sol_a = sla.cho_solve((Lc, True), rhs, check_finite=False)
        sol_e = None
        if self.e is not None:
            sol_e = _apply_blocks(Dinv, self.rhs_e) - Bs.T @ sol_a
        f = Factor(Lc=Lc, Dinv=Dinv, Bs=Bs, sol_a=sol_a, sol_e=sol_e, logdet_c=logdet, logdet_e=logdet_e)
        if ml:
            p = g.p
            f.logdet_czz = logdet_e
            if self.m > p:
                try:
                    Lzz = sla.cholesky(A[p:, p:], lower=True, check_finite=False)
                except sla.LinAlgError:
                    return None
                f.Lzz = Lzz
                f.logdet_czz += 2.0 * float(np.sum(np.log(np.diag(Lzz))))
        return f

    def v(self, f: Factor, i: int) -> np.ndarray:
        """Solution ``v_i`` of term ``i`` (level-major)."""
        return f.sol_e if i == self.e else f.sol_a[self.sl[i]]

    def traces(self, f: Factor, ml: bool) -> dict[int, np.ndarray]:
        """``T_i``: sum over levels of the diagonal blocks of ``C^-1`` (REML) or ``C_zz^-1`` (ML), (d_i, d_i)."""
        g = self.g
        p = g.p
        if ml:
            Lt, off = f.Lzz, p
        else:
            Lt, off = f.Lc, 0
        if self.sparse:
            return self._traces_sparse(f, Lt, off)
        out: dict[int, np.ndarray] = {}
        size = self.m - off
        Sinv = None
        if size > 0:
            Linv = sla.solve_triangular(Lt, np.eye(size), lower=True, check_finite=False)
            Sinv = Linv.T @ Linv  # the dense-part block of C^-1 (or C_zz^-1)
            for i in self.dense:
                s = slice(self.sl[i].start - off, self.sl[i].stop - off)
                if g.d[i] == 1:
                    out[i] = np.array([[float(np.diag(Sinv)[s].sum())]])
                else:
                    out[i] = block_sum(Sinv[s, s], g.d[i])
        if self.e is not None:
            e, d = self.e, g.d[self.e]
            if d == 1:
                # tr[diag(1/dg) + Bs' S^-1 Bs] = sum(1/dg) + <S^-1, Bs Bs'>: one GEMM, no solve with q_e columns
                t = float(np.sum(f.Dinv))
                if Sinv is not None:
                    Bs = f.Bs[off:]
                    t += float(np.einsum("ij,ij->", Sinv, Bs @ Bs.T))
                out[e] = np.array([[t]])
            else:
                T = f.Dinv.sum(axis=0)
                if Sinv is not None:
                    Bs = f.Bs[off:]
                    W = Sinv @ Bs
                    q = g.nl[e]
                    T = T + np.einsum("mla,mlb->ab", Bs.reshape(-1, q, d), W.reshape(-1, q, d))
                out[e] = T
        return out

    def _traces_sparse(self, f: Factor, Lt: np.ndarray | None, off: int) -> dict[int, np.ndarray]:
        """:meth:`traces` with a sparse ``B`` (one-effect eliminated term).

        ``S^-1`` from its Cholesky factor (LAPACK ``potri``: lower triangle only); the
        eliminated term's trace is ``sum(1/dg) + <S^-1, Bs Bs'>`` with ``Bs Bs'`` a sparse
        product read on its lower triangle (off-diagonal entries twice), so no dense ``B``
        and no ``m^2 q_e`` product is formed.
        """
        g = self.g
        out: dict[int, np.ndarray] = {}
        t = float(np.sum(f.Dinv))
        if self.m - off > 0:
            inv, info = dpotri(Lt, lower=1)  # lower triangle of S^-1; the rest is not read
            if info != 0:
                raise np.linalg.LinAlgError(f"potri failed (info={info})")
            dg = np.diag(inv)
            for i in self.dense:
                s = slice(self.sl[i].start - off, self.sl[i].stop - off)
                if g.d[i] == 1:
                    out[i] = np.array([[float(dg[s].sum())]])
                else:
                    low = np.tril(inv[s, s])
                    out[i] = block_sum(low + np.tril(low, -1).T, g.d[i])
            Bs = f.Bs[off:]
            M = (Bs @ Bs.T).tocoo()
            keep = M.row >= M.col
            r, c, v = M.row[keep], M.col[keep], M.data[keep]
            t += float(np.dot(inv[r, c] * np.where(r > c, 2.0, 1.0), v))
        out[self.e] = np.array([[t]])
        return out

    # ------------------------------------------------------------------ likelihood, EM
    def evaluate(
        self, layout: Layout, sig2: np.ndarray, s2e: float, ml: bool
    ) -> tuple[float, np.ndarray | None]:
        """Log-likelihood at ``(sig2, s2e)`` and the EM update (None if infeasible).

        Parameters
        ----------
        layout : Layout
        sig2 : ndarray, shape (layout.size,)
            The terms' free entries (inactive ones ignored; active ``G_i`` positive definite).
        s2e : float

        Returns
        -------
        loglik : float
        update : ndarray, shape (layout.size + 1,)
            New entries then ``s2e``; inactive entries are 0.
        """
        g = self.g
        pen = penalties(layout, sig2, s2e, self.active)
        if pen is None:
            return -np.inf, None
        P, logdetG = pen
        f = self.factor(P, ml)
        if f is None:
            return -np.inf, None
        n, p = g.n, g.p
        rhs_dot = float(f.sol_a @ self.rhs_a)
        if self.e is not None:
            rhs_dot += float(f.sol_e @ self.rhs_e)
        ypy = g.yty - rhs_dot
        VtV = {}
        for i in self.active:
            Vi = self.v(f, i).reshape(g.nl[i], g.d[i])
            VtV[i] = Vi.T @ Vi
        log_g = sum(g.nl[i] * (logdetG[i] - g.d[i] * np.log(s2e)) for i in self.active)
        if ml:
            ll = -0.5 * (n * LOG_2PI + n * np.log(s2e) + log_g + f.logdet_czz + ypy / s2e)
        else:
            ll = -0.5 * ((n - p) * (LOG_2PI + np.log(s2e)) + log_g + f.logdet_c + ypy / s2e)
        T = self.traces(f, ml)
        ete = ypy - sum(float(np.sum(P[i] * VtV[i])) for i in self.active)
        new = np.zeros(layout.size + 1)
        dof = 0.0 if ml else float(p)
        for i in self.active:
            Gi = (VtV[i] + s2e * T[i]) / g.nl[i]
            new[layout.slot(i)] = layout.vector(Gi, i)
            dof += g.r[i] - float(np.sum(P[i] * T[i]))
        new[-1] = (ete + s2e * dof) / n
        if not np.all(np.isfinite(new)):
            return -np.inf, None
        return float(ll), new

    def score_at_zero(self, layout: Layout, sig2: np.ndarray, s2e: float, j: int, ml: bool) -> float:
        """Largest feasible directional derivative of the log-likelihood at ``G_j = 0`` (``j`` inactive).

        The gradient in ``G_j`` at 0 is ``S = (1/2) sum_l (Z*_jl' P y y' P Z*_jl - Z*_jl' P Z*_jl)``
        (``d_j x d_j``, ``P`` of the model without term ``j``; for ML ``P`` is ``V^-1``
        applied to ``y - X b``). Returns its largest eigenvalue (unstructured ``G_j``) or
        largest diagonal entry (diagonal ``G_j``): ``<= 0`` is the Karush-Kuhn-Tucker
        condition for a maximum at ``G_j = 0``.
        """
        g = self.g
        pen = penalties(layout, sig2, s2e, self.active)
        if pen is None:
            return np.nan
        f = self.factor(pen[0], ml)
        if f is None:
            return np.nan
        d, q = g.d[j], g.nl[j]
        Ga = self.cross(j)
        Ge = g.ZZ(self.e, j) if self.e is not None else None
        resid = g.Zty[j] - Ga.T @ f.sol_a
        if Ge is not None:
            resid = resid - Ge.T @ f.sol_e
        gv = (resid / s2e).reshape(q, d)
        off = g.p if ml else 0
        Lt = f.Lzz if ml else f.Lc
        Ga_ = Ga[off:]
        tr = np.zeros((d, d))
        if Ge is not None:
            Bs = f.Bs[off:]
            R = Ga_ - Bs @ Ge
            Xa = sla.cho_solve((Lt, True), R, check_finite=False) if Ga_.shape[0] else R
            Xe = _apply_blocks(f.Dinv, Ge) - Bs.T @ Xa
            tr = _pair_block_sum(Ga_, Xa, q, d) + _pair_block_sum(Ge, Xe, q, d)
        elif Ga_.shape[0]:
            Xa = sla.cho_solve((Lt, True), Ga_, check_finite=False)
            tr = _pair_block_sum(Ga_, Xa, q, d)
        S = 0.5 * (gv.T @ gv - (g.ZZbsum[j] - tr) / s2e)
        if d == 1:
            return float(S[0, 0])
        # in units of each effect's average contribution to Var(y) (MMEEngine.term_size)
        w = 1.0 / np.sqrt(np.maximum(np.diag(g.ZZbsum[j]) / g.n, np.finfo(float).tiny))
        S = S * w[:, None] * w[None, :]
        if layout.structures[j] == "diag":
            return float(np.max(np.diag(S)))
        return float(np.linalg.eigvalsh(0.5 * (S + S.T))[-1])

    def final(self, layout: Layout, sig2: np.ndarray, s2e: float) -> Solution:
        """Solution and prediction-error quantities at the estimate (:class:`Solution`)."""
        g = self.g
        pen = penalties(layout, sig2, s2e, self.active)
        f = None if pen is None else self.factor(pen[0], ml=False)
        if f is None:
            raise np.linalg.LinAlgError("mixed-model equations are not positive definite")
        Sinv = sla.cho_solve((f.Lc, True), np.eye(self.m), check_finite=False)
        v: dict[int, np.ndarray] = {}
        cii: dict[int, np.ndarray] = {}
        for i in self.active:
            v[i] = self.v(f, i).copy()
            d, q = g.d[i], g.nl[i]
            if i == self.e and self.sparse:
                # diag(Bs' S^-1 Bs): Bs is sparse, S^-1 already formed
                W = f.Bs.T @ Sinv  # (q, m)
                dq = np.asarray(f.Bs.T.multiply(W).sum(axis=1)).ravel()
                cii[i] = (f.Dinv + dq)[:, None, None]
            elif i == self.e:
                T = sla.solve_triangular(f.Lc, f.Bs, lower=True, check_finite=False)
                T3 = T.reshape(-1, q, d)
                Dinv = f.Dinv[:, None, None] if f.Dinv.ndim == 1 else f.Dinv
                cii[i] = Dinv + np.einsum("mla,mlb->lab", T3, T3)
            else:
                block = Sinv[self.sl[i], self.sl[i]]
                if g.L[i] is not None:
                    cii[i] = block
                else:
                    cii[i] = np.einsum("lalb->lab", block.reshape(q, d, q, d))
        return Solution(b=f.sol_a[: g.p].copy(), var_b=s2e * Sinv[: g.p, : g.p], v=v, Cii=cii)


def _pair_block_sum(A: np.ndarray, B: np.ndarray, q: int, d: int) -> np.ndarray:
    """Sum over levels ``l`` of ``A[:, l block]' B[:, l block]`` (A, B shape (m, q d)), shape (d, d)."""
    return np.einsum("mla,mlb->ab", A.reshape(-1, q, d), B.reshape(-1, q, d))
