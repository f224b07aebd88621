r"""Sufficient statistics of the mixed-model equations, formed once (:class:`Gram`).

On the ``n`` rows with observed ``y``, random term ``i`` enters as ``Z*_i v_i`` with
``Z*_i = Z_i L_i`` (``L_i = I`` when ``K_i = I``; for a term with ``d_i`` effects per
level ``L_i`` is ``L (x) I_{d_i}`` of the level kernel's factor ``K = L L'``) and its
columns in *level-major* order: column ``l d_i + a`` is effect ``a`` of level ``l``. With
``W = [X, Z*_1, ..., Z*_k]`` everything an EM iteration needs is in ``W'W``, ``W'y`` and
``y'y``, so an iteration's cost does not depend on ``n``.

A term whose ``Z*_i' Z*_i`` is block diagonal with ``d_i x d_i`` blocks (a grouping
factor with its covariates, ``K = I``) keeps those blocks as an array ``(q_i, d_i, d_i)``
(:attr:`Gram.blocks`): the engine eliminates the largest such term block by block.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["Gram", "block_sum"]


def block_sum(M: np.ndarray | sp.spmatrix, d: int) -> np.ndarray:
    """Sum of the ``d x d`` diagonal blocks of a square ``M`` (shape (q d, q d)), shape (d, d)."""
    if sp.issparse(M):
        c = M.tocoo()
        keep = c.row // d == c.col // d
        out = np.zeros((d, d))
        np.add.at(out, (c.row[keep] % d, c.col[keep] % d), c.data[keep])
        return out
    q = M.shape[0] // d
    return np.einsum("lalb->ab", np.asarray(M).reshape(q, d, q, d))


class Gram:
    """Sufficient statistics over the observed rows, formed once.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Fixed-effect design on the observed rows.
    y : ndarray, shape (n,)
        Observed response (already centred on its OLS fit, see ``api``).
    Zs : list of csr_matrix, shapes (n, q_i d_i)
        Level-major columns (module docstring).
    Ls : list of (ndarray, shape (q_i d_i, r_i d_i)) or None
    dims : list of int, optional
        ``d_i`` per term (default all 1).
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        Zs: list[sp.csr_matrix],
        Ls: list[np.ndarray | None],
        dims: list[int] | None = None,
    ):
        self.n, self.p = X.shape
        self.k = len(Zs)
        self.L = Ls
        self.d = [1] * self.k if dims is None else [int(d) for d in dims]
        self.r = [Z.shape[1] if L is None else L.shape[1] for Z, L in zip(Zs, Ls)]
        self.nl = [r // d for r, d in zip(self.r, self.d)]
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
        #: per term: whether Z*'Z* is block diagonal (d x d blocks, K = I)
        self.block_ok: list[bool] = []
        #: per term: its diagonal blocks (q, d, d) when block_ok, else None
        self.blocks: list[np.ndarray | None] = []
        #: per term: the sum of the diagonal blocks of Z*'Z*, (d, d)
        self.ZZbsum: list[np.ndarray] = []
        for i in range(self.k):
            b = self._ZZ[(i, i)]
            d = self.d[i]
            if d == 1 and sp.issparse(b):
                # one effect: the blocks are the diagonal (no coordinate lists needed)
                dg = b.diagonal()
                self.ZZbsum.append(np.array([[float(dg.sum())]]))
                ok = Ls[i] is None and b.nnz == np.count_nonzero(dg)
                self.block_ok.append(ok)
                self.blocks.append(dg.reshape(-1, 1, 1).copy() if ok else None)
                continue
            self.ZZbsum.append(block_sum(b, d))
            if sp.issparse(b) and Ls[i] is None:
                c = b.tocoo()
                ok = bool(np.all(c.row // d == c.col // d))
                blocks = None
                if ok:
                    blocks = np.zeros((self.nl[i], d, d))
                    np.add.at(blocks, (c.row // d, c.row % d, c.col % d), c.data)
                self.block_ok.append(ok)
                self.blocks.append(blocks)
            else:
                self.block_ok.append(False)
                self.blocks.append(None)
        # the scalar engine's names (d = 1): a diagonal Z*'Z*
        self.diag_ok = [ok and d == 1 for ok, d in zip(self.block_ok, self.d)]
        self.trZZ = [float(np.trace(s)) for s in self.ZZbsum]

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
