r"""Single random effect with a dense relationship matrix: the EMMA spectral path.

With one random effect, ``V = s2 M + s2_e I`` on the ``n`` observed rows, where
``M = Z_o K Z_o'``. One eigendecomposition ``M = U diag(s) U'`` (Kang et al. 2008,
EMMA) diagonalises ``V = U diag(s2 s + s2_e) U'`` for *every* value of the variance
components. After rotating once, ``y~ = U'y`` and ``X~ = U'X``, the log-likelihood and
the EM update cost ``O(n p^2)`` per iteration instead of ``O(n^3)``:

* ``v_j = s2 s_j + s2_e``, ``b = (X~' V^-1 X~)^-1 X~' V^-1 y~``, ``Py = V^-1 (y~ - X~ b)``,
* REML ``-(1/2)[(n-p) log 2 pi + sum log v_j + log|X~'V^-1 X~| + (y~ - X~b)'V^-1(y~ - X~b)]``,
  ML ``-(1/2)[n log 2 pi + sum log v_j + (y~ - X~b)'V^-1(y~ - X~b)]``,
* EM (the same map as the mixed-model equations, written with ``P``; ``P_jj`` the
  diagonal of ``P`` in the rotated basis, ``r = rank(K)``)::

      s2   <- s2   + s2^2   / r * (sum_j s_j Py_j^2 - sum_j s_j P_jj)
      s2_e <- s2_e + s2_e^2 / n * (sum_j Py_j^2     - sum_j P_jj)

When ``Z`` is the identity and every ``y`` is observed, ``M = K`` and the
eigendecomposition made while validating ``K`` is reused: the whole fit then costs one
``eigh(K)`` plus ``O(n^2)`` work.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from imputer._util import LOG_2PI
from imputer.mixed._problem import Estimates, Layout

__all__ = ["SpectralEngine"]



def _is_identity(Z: sp.csr_matrix) -> bool:
    n, q = Z.shape
    if n != q or Z.nnz != n:
        return False
    return bool(np.array_equal(Z.indices, np.arange(n)) and np.all(Z.data == 1.0) and np.array_equal(Z.indptr, np.arange(n + 1)))


class SpectralEngine:
    """EM-REML/ML for ``y = X b + Z u + e``, ``u ~ N(0, s2 K)``, in the eigenbasis of ``Z K Z'``.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Observed rows.
    y : ndarray, shape (n,)
    Z : csr_matrix, shape (n, q)
        Observed rows of the incidence matrix.
    eig : (w, Q) or None
        Eigendecomposition of ``K`` (None: identity).
    L : ndarray, shape (q, r), or None
        Factor ``K = L L'`` (:attr:`imputer.mixed._validate.Component.L`; None: identity).
    r : int
        ``rank(K)``.
    ml : bool
    """

    k = 1
    layout = Layout.scalar(1)

    def __init__(self, X: np.ndarray, y: np.ndarray, Z: sp.csr_matrix, eig, L: np.ndarray | None, r: int, ml: bool):
        self.n, self.p = X.shape
        self.r = [r]
        self.ml = ml
        if eig is not None and _is_identity(Z):
            w, Q = eig
            s, U = w, Q
            H = Q * w  # K Z' U = Q diag(w)
            self.diagK = np.einsum("ij,ij->i", H, Q)
        else:
            Lk = L
            if Lk is None:
                ZL = Z.toarray()
                self.diagK = np.ones(Z.shape[1])
            else:
                ZL = np.asarray(Z @ Lk)
                self.diagK = np.einsum("ij,ij->i", Lk, Lk)
            s, U = np.linalg.eigh(ZL @ ZL.T)
            s = np.clip(s, 0.0, None)
            H = ZL.T @ U if Lk is None else Lk @ (ZL.T @ U)
        self.s = s
        self.H = H
        self.yt = U.T @ y
        self.Xt = U.T @ X

    def _solve(self, s2: float, s2e: float):
        v = s2 * self.s + s2e
        if not np.all(v > 0):
            return None
        w = 1.0 / v
        Xw = self.Xt * w[:, None]
        XtWX = self.Xt.T @ Xw
        try:
            cf = sla.cho_factor(XtWX, lower=True, check_finite=False)
        except sla.LinAlgError:
            return None
        b = sla.cho_solve(cf, Xw.T @ self.yt, check_finite=False)
        res = self.yt - self.Xt @ b
        return v, w, Xw, cf, b, res, w * res

    def _pdiag(self, w, Xw, cf):
        if self.ml:
            return w
        G = sla.cho_solve(cf, Xw.T, check_finite=False)  # (p, n)
        return w - np.einsum("ij,ji->i", Xw, G)

    def evaluate(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...]):
        """Log-likelihood and EM update at ``(sig2, s2e)`` (see the module docstring)."""
        s2 = float(sig2[0]) if active else 0.0
        got = self._solve(s2, s2e)
        if got is None:
            return -np.inf, None
        v, w, Xw, cf, b, res, Py = got
        n, p = self.n, self.p
        quad = float(res @ Py)
        if self.ml:
            ll = -0.5 * (n * LOG_2PI + np.sum(np.log(v)) + quad)
        else:
            logdet = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
            ll = -0.5 * ((n - p) * LOG_2PI + np.sum(np.log(v)) + logdet + quad)
        pd_ = self._pdiag(w, Xw, cf)
        new = np.zeros(2)
        if active:
            new[0] = s2 + s2 * s2 / self.r[0] * (float(self.s @ (Py * Py)) - float(self.s @ pd_))
        new[1] = s2e + s2e * s2e / n * (float(Py @ Py) - float(pd_.sum()))
        if not np.all(np.isfinite(new)):
            return -np.inf, None
        return float(ll), new

    def score_at_zero(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...], j: int) -> float:
        """``d loglik / d s2`` at ``s2 = 0``: ``(1/2)(y'PMPy - tr(PM))``."""
        got = self._solve(0.0, s2e)
        if got is None:
            return np.nan
        v, w, Xw, cf, b, res, Py = got
        return 0.5 * (float(self.s @ (Py * Py)) - float(self.s @ self._pdiag(w, Xw, cf)))

    def final(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...]) -> Estimates:
        """``b`` (p,), ``var_b`` (p, p), ``u`` ((q, 1),) and ``pev`` ((q, 1, 1),)."""
        s2 = float(sig2[0]) if active else 0.0
        got = self._solve(s2, s2e)
        if got is None:
            raise np.linalg.LinAlgError("X' V^-1 X is not positive definite")
        v, w, Xw, cf, b, res, Py = got
        var_b = sla.cho_solve(cf, np.eye(self.p), check_finite=False)
        q = self.H.shape[0]
        if not active:
            return Estimates(b=b, var_b=var_b, u=(np.zeros((q, 1)),), pev=(np.zeros((q, 1, 1)),))
        u = s2 * (self.H @ Py)
        HXw = self.H @ Xw  # (q, p)
        term1 = np.einsum("ij,ij->i", self.H * w, self.H)
        term2 = np.einsum("ij,ji->i", HXw, sla.cho_solve(cf, HXw.T, check_finite=False))
        pev = s2 * self.diagK - s2 * s2 * (term1 - term2)
        return Estimates(b=b, var_b=var_b, u=(u[:, None],), pev=(np.clip(pev, 0.0, None)[:, None, None],))
