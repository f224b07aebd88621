r"""Henderson's mixed-model equations: factorisation, REML/ML log-likelihood, EM map.

On the ``n`` rows with observed ``y`` the model is

.. math::

    y = X b + \sum_i Z^*_i v_i + e,\qquad v_i \sim N(0, \sigma^2_i I_{r_i}),\qquad
    e \sim N(0, \sigma^2_e I_n),

with ``Z*_i = Z_i L_i`` and ``K_i = L_i L_i'`` (``L_i = I`` when ``K_i = I``), so
``u_i = L_i v_i``. With ``W = [X, Z*_1, ..., Z*_k]``, ``lambda_i = s2_e / s2_i`` and
``D = diag(0_p, lambda_1 I, ..., lambda_k I)`` the mixed-model equations are
``C [b; v] = W'y`` with ``C = W'W + D``. Everything per iteration is computed from
the sufficient statistics ``W'W``, ``W'y`` and ``y'y`` (formed once, :class:`Gram`),
so the cost of an iteration does not depend on ``n``:

* ``log|V| = n log s2_e - sum_i r_i log lambda_i + log|C_zz|`` and
  ``log|X'V^-1 X| = -p log s2_e + log|C| - log|C_zz|`` (``C_zz`` the random-effect block),
* ``r'V^-1 r = (y'y - [b; v]'W'y) / s2_e``,
* REML log-likelihood ``-(1/2)[(n-p) log 2 pi + (n-p) log s2_e - sum r_i log lambda_i
  + log|C| + r'V^-1 r]`` (lme4's ``logLik`` convention), ML
  ``-(1/2)[n log 2 pi + n log s2_e - sum r_i log lambda_i + log|C_zz| + r'V^-1 r]``.

EM (``v`` and ``e`` missing data; REML also integrates ``b`` out), with ``C^{ii}`` the
``i`` block of ``C^-1`` (REML) or of ``C_zz^-1`` (ML) and ``e'e = y'y - [b;v]'W'y -
sum lambda_i v_i'v_i``::

    s2_i <- (v_i'v_i + s2_e tr C^{ii}) / r_i
    s2_e <- (e'e + s2_e (p_REML + sum_i r_i - sum_i lambda_i tr C^{ii})) / n

(``p_REML = p`` for REML, 0 for ML). Each step never decreases the likelihood.

Factorisation: one random effect whose ``Z*'Z*`` is diagonal (an incidence matrix with
``K = I``, the largest such) is eliminated through its diagonal block; the rest
(``X`` and the other effects, size ``m``) forms a dense Schur complement
``S = A - B diag(d + lambda_e)^-1 B'`` that is Cholesky-factored. An iteration costs
``O(m^3 + m^2 q_e)``: for two crossed factors with 1,000 and 50 levels, ``m = 52``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from imputer._util import LOG_2PI

__all__ = ["Gram", "System", "Factor", "Solution"]



class Gram:
    """Sufficient statistics over the observed rows, formed once.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Fixed-effect design on the observed rows.
    y : ndarray, shape (n,)
        Observed response (already centred on its OLS fit, see ``api``).
    Zs : list of csr_matrix, shapes (n, q_i)
    Ls : list of (ndarray, shape (q_i, r_i)) or None
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, Zs: list[sp.csr_matrix], Ls: list[np.ndarray | None]):
        self.n, self.p = X.shape
        self.k = len(Zs)
        self.L = Ls
        self.r = [Z.shape[1] if L is None else L.shape[1] for Z, L in zip(Zs, Ls)]
        self.XtX = X.T @ X
        self.Xty = X.T @ y
        self.yty = float(y @ y)
        self.XtZ: list[np.ndarray] = []
        self.Zty: list[np.ndarray] = []
        self._ZZ: dict[tuple[int, int], np.ndarray | sp.spmatrix] = {}
        ZT = [Z.T.tocsr() for Z in Zs]
        for i in range(self.k):
            self.XtZ.append(self._right(np.asarray((ZT[i] @ X).T), i))
            self.Zty.append(self._left(np.asarray(ZT[i] @ y).ravel(), i))
            for j in range(i, self.k):
                block = (ZT[i] @ Zs[j]).tocsr()
                if Ls[i] is not None or Ls[j] is not None:
                    block = self._right(self._left(block.toarray(), i), j)
                self._ZZ[(i, j)] = block
        self.diag_ok = []
        self.trZZ = []
        for i in range(self.k):
            b = self._ZZ[(i, i)]
            if sp.issparse(b):
                self.diag_ok.append(Ls[i] is None and b.nnz == np.count_nonzero(b.diagonal()))
                self.trZZ.append(float(b.diagonal().sum()))
            else:
                self.diag_ok.append(False)
                self.trZZ.append(float(np.trace(b)))

    def _left(self, M: np.ndarray, i: int) -> np.ndarray:
        L = self.L[i]
        return M if L is None else L.T @ M

    def _right(self, M: np.ndarray, j: int) -> np.ndarray:
        L = self.L[j]
        return M if L is None else M @ L

    def ZZ(self, i: int, j: int, dense: bool = True) -> np.ndarray | sp.spmatrix:
        """``Z*_i' Z*_j``, shape (r_i, r_j)."""
        b = self._ZZ[(i, j)] if i <= j else self._ZZ[(j, i)].T
        if dense and sp.issparse(b):
            return b.toarray()
        return b

    def ZZdiag(self, i: int) -> np.ndarray:
        b = self._ZZ[(i, i)]
        return b.diagonal() if sp.issparse(b) else np.diag(b).copy()


@dataclass
class Factor:
    """Factorisation of ``C`` at one value of the variance components."""

    Lc: np.ndarray  # Cholesky factor of S (lower)
    dg: np.ndarray | None  # diagonal of the eliminated block (d + lambda_e)
    Bs: np.ndarray | None  # B diag(1/dg), shape (m, q_e)
    sol_a: np.ndarray
    sol_e: np.ndarray | None
    logdet_c: float
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
        Per active component, its solution ``v_i``.
    Cii : dict of int -> ndarray
        Per active component, the ``i`` block of ``C^-1``: full (r_i, r_i) when
        ``K_i != I``, else its diagonal (r_i,).
    """

    b: np.ndarray
    var_b: np.ndarray
    v: dict[int, np.ndarray]
    Cii: dict[int, np.ndarray]


class System:
    """The mixed-model equations for a fixed set of active components.

    Parameters
    ----------
    gram : Gram
    active : tuple of int
        Components with positive variance; the others are fixed at zero and left out.
    """

    def __init__(self, gram: Gram, active: tuple[int, ...]):
        g = gram
        self.g = g
        self.active = active
        cands = [i for i in active if g.diag_ok[i]]
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
        self.diag_idx = {i: np.arange(self.sl[i].start, self.sl[i].stop) for i in self.dense}
        if self.e is not None:
            e = self.e
            self.B = self.cross(e)
            self.d = g.ZZdiag(e)
            self.rhs_e = g.Zty[e]
        else:
            self.B = None

    def cross(self, j: int) -> np.ndarray:
        """Rows of ``W_a' Z*_j`` for the dense part, shape (m, r_j)."""
        g = self.g
        out = np.empty((self.m, g.r[j]))
        out[: g.p] = g.XtZ[j]
        for i in self.dense:
            out[self.sl[i]] = g.ZZ(i, j)
        return out

    # ------------------------------------------------------------------ factorisation
    def ratios(self, sig2: np.ndarray, s2e: float) -> np.ndarray:
        """``lambda_i = s2e / s2_i`` for the active components (0 for the others), shape (k,)."""
        lam = np.zeros(self.g.k)
        for i in self.active:
            lam[i] = s2e / sig2[i]
        return lam

    def factor(self, lam: np.ndarray, ml: bool) -> Factor | None:
        """Factor ``C`` at ``lam`` (per component); None if not positive definite."""
        A = self.A0.copy()
        for i in self.dense:
            idx = self.diag_idx[i]
            A[idx, idx] += lam[i]
        rhs = self.rhs_a
        dg = Bs = None
        logdet = 0.0
        if self.e is not None:
            dg = self.d + lam[self.e]
            Bs = self.B / dg
            A -= Bs @ self.B.T
            rhs = rhs - Bs @ self.rhs_e
            logdet += float(np.sum(np.log(dg)))
        try:
            Lc = sla.cholesky(A, lower=True, check_finite=False)
        except sla.LinAlgError:
            return None
        dl = np.diag(Lc)
        if not np.all(dl > 0) or not np.all(np.isfinite(dl)):
            return None
        logdet += 2.0 * float(np.sum(np.log(dl)))
        sol_a = sla.cho_solve((Lc, True), rhs, check_finite=False)
        sol_e = None
        if self.e is not None:
            sol_e = self.rhs_e / dg - Bs.T @ sol_a
        f = Factor(Lc=Lc, dg=dg, Bs=Bs, sol_a=sol_a, sol_e=sol_e, logdet_c=logdet)
        if ml:
            p = self.g.p
            f.logdet_czz = float(np.sum(np.log(dg))) if dg is not None else 0.0
            if self.m > p:
                try:
                    Lzz = sla.cholesky(A[p:, p:], lower=True, check_finite=False)
                except sla.LinAlgError:
                    return None
                f.Lzz = Lzz
                f.logdet_czz += 2.0 * float(np.sum(np.log(np.diag(Lzz))))
        return f

    def v(self, f: Factor, i: int) -> np.ndarray:
        """Solution ``v_i`` of component ``i``."""
        return f.sol_e if i == self.e else f.sol_a[self.sl[i]]

    def traces(self, f: Factor, ml: bool) -> dict[int, float]:
        """``tr C^{ii}`` (REML: of ``C^-1``; ML: of ``C_zz^-1``) per active component."""
        p = self.g.p
        if ml:
            Lt, off = f.Lzz, p
        else:
            Lt, off = f.Lc, 0
        out: dict[int, float] = {}
        size = self.m - off
        Sinv = None
        if size > 0:
            Linv = sla.solve_triangular(Lt, np.eye(size), lower=True, check_finite=False)
            Sinv = Linv.T @ Linv  # the dense-part block of C^-1 (or C_zz^-1)
            dinv = np.diag(Sinv)
            for i in self.dense:
                s = self.sl[i]
                out[i] = float(dinv[s.start - off : s.stop - off].sum())
        if self.e is not None:
            # tr[diag(1/dg) + Bs' S^-1 Bs] = sum(1/dg) + <S^-1, Bs Bs'>: one GEMM, no solve with q_e columns
            t = float(np.sum(1.0 / f.dg))
            if Sinv is not None:
                Bs = f.Bs[off:]
                t += float(np.einsum("ij,ij->", Sinv, Bs @ Bs.T))
            out[self.e] = t
        return out

    # ------------------------------------------------------------------ likelihood, EM
    def evaluate(self, sig2: np.ndarray, s2e: float, ml: bool) -> tuple[float, np.ndarray | None]:
        """Log-likelihood at ``(sig2, s2e)`` and the EM update (None if infeasible).

        Parameters
        ----------
        sig2 : ndarray, shape (k,)
            Component variances (inactive ones ignored; active must be > 0).
        s2e : float

        Returns
        -------
        loglik : float
        update : ndarray, shape (k + 1,)
            New ``(sig2, s2e)``; inactive entries are 0.
        """
        g = self.g
        lam = self.ratios(sig2, s2e)
        f = self.factor(lam, ml)
        if f is None:
            return -np.inf, None
        n, p = g.n, g.p
        rhs_dot = float(f.sol_a @ self.rhs_a)
        if self.e is not None:
            rhs_dot += float(f.sol_e @ self.rhs_e)
        ypy = g.yty - rhs_dot
        vtv = {i: float(self.v(f, i) @ self.v(f, i)) for i in self.active}
        sum_rlog = sum(g.r[i] * np.log(lam[i]) for i in self.active)
        if ml:
            ll = -0.5 * (n * LOG_2PI + n * np.log(s2e) - sum_rlog + f.logdet_czz + ypy / s2e)
        else:
            ll = -0.5 * ((n - p) * (LOG_2PI + np.log(s2e)) - sum_rlog + f.logdet_c + ypy / s2e)
        tr = self.traces(f, ml)
        ete = ypy - sum(lam[i] * vtv[i] for i in self.active)
        new = np.zeros(g.k + 1)
        dof = 0.0 if ml else float(p)
        for i in self.active:
            new[i] = (vtv[i] + s2e * tr[i]) / g.r[i]
            dof += g.r[i] - lam[i] * tr[i]
        new[g.k] = (ete + s2e * dof) / n
        if not np.all(np.isfinite(new)):
            return -np.inf, None
        return float(ll), new

    def score_at_zero(self, sig2: np.ndarray, s2e: float, j: int, ml: bool) -> float:
        """Derivative of the log-likelihood in ``s2_j`` at ``s2_j = 0`` (``j`` inactive).

        ``(1/2)(y'P Z*_j Z*_j' P y - tr(Z*_j' P Z*_j))`` with ``P`` of the model without
        component ``j`` (REML; for ML ``P`` is ``V^-1`` applied to ``y - X b``).
        """
        g = self.g
        lam = self.ratios(sig2, s2e)
        f = self.factor(lam, ml)
        if f is None:
            return np.nan
        Ga = self.cross(j)
        Ge = g.ZZ(self.e, j) if self.e is not None else None
        resid = g.Zty[j] - Ga.T @ f.sol_a
        if Ge is not None:
            resid = resid - Ge.T @ f.sol_e
        gvec = resid / s2e
        off = g.p if ml else 0
        Lt = f.Lzz if ml else f.Lc
        Ga_ = Ga[off:]
        tr = 0.0
        if Ge is not None:
            Bs = f.Bs[off:]
            R = Ga_ - Bs @ Ge
            Xa = sla.cho_solve((Lt, True), R, check_finite=False) if Ga_.shape[0] else R
            Xe = Ge / f.dg[:, None] - Bs.T @ Xa
            tr = float(np.einsum("ij,ij->", Ga_, Xa) + np.einsum("ij,ij->", Ge, Xe))
        elif Ga_.shape[0]:
            Xa = sla.cho_solve((Lt, True), Ga_, check_finite=False)
            tr = float(np.einsum("ij,ij->", Ga_, Xa))
        T = (g.trZZ[j] - tr) / s2e
        return 0.5 * (float(gvec @ gvec) - T)

    def final(self, sig2: np.ndarray, s2e: float) -> Solution:
        """Solution and prediction-error quantities at the estimate (:class:`Solution`)."""
        g = self.g
        lam = self.ratios(sig2, s2e)
        f = self.factor(lam, ml=False)
        if f is None:
            raise np.linalg.LinAlgError("mixed-model equations are not positive definite")
        Sinv = sla.cho_solve((f.Lc, True), np.eye(self.m), check_finite=False)
        v: dict[int, np.ndarray] = {}
        cii: dict[int, np.ndarray] = {}
        for i in self.active:
            v[i] = self.v(f, i).copy()
            if i == self.e:
                T = sla.solve_triangular(f.Lc, f.Bs, lower=True, check_finite=False)
                cii[i] = 1.0 / f.dg + np.einsum("ij,ij->j", T, T)
            else:
                block = Sinv[self.sl[i], self.sl[i]]
                cii[i] = block if g.L[i] is not None else np.diag(block).copy()
        return Solution(b=f.sol_a[: g.p].copy(), var_b=s2e * Sinv[: g.p, : g.p], v=v, Cii=cii)
