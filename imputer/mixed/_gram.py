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

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["Gram", "GramSums", "block_sum", "gram_sums"]


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


@dataclass(frozen=True, eq=False)
class GramSums:
    """The raw cross products ``W'W``, ``W'y``, ``y'y`` over some rows (``W = [X, Z_1..Z_k]``).

    Sums over disjoint sets of rows add (``a + b``), so a table split into partitions has
    the sums of its partitions' sums (:mod:`imputer.dask.mixed`).

    Attributes
    ----------
    n : int
        Rows summed over.
    XtX : ndarray, shape (p, p)
    Xty : ndarray, shape (p,)
    yty : float
    XtZ : tuple of ndarray, shapes (p, q_i d_i)
    Zty : tuple of ndarray, shapes (q_i d_i,)
    ZZ : dict (i, j) -> csr_matrix, shape (q_i d_i, q_j d_j), for i <= j
    """

    n: int
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float
    XtZ: tuple[np.ndarray, ...]
    Zty: tuple[np.ndarray, ...]
    ZZ: dict[tuple[int, int], sp.csr_matrix]

    def __add__(self, other: GramSums) -> GramSums:
        return GramSums(
            n=self.n + other.n,
            XtX=self.XtX + other.XtX,
            Xty=self.Xty + other.Xty,
            yty=self.yty + other.yty,
            XtZ=tuple(a + b for a, b in zip(self.XtZ, other.XtZ)),
            Zty=tuple(a + b for a, b in zip(self.Zty, other.Zty)),
            ZZ={key: (self.ZZ[key] + other.ZZ[key]).tocsr() for key in self.ZZ},
        )

    def centred(self, b: np.ndarray) -> GramSums:
        """The sums of ``y - X b`` in place of ``y`` (same ``W``), shape as ``self``.

        ``y0'y0 = y'y - 2 b'X'y + b'X'X b`` loses about ``log10(y'y / y0'y0)`` digits to
        cancellation: shift ``y`` towards its mean before summing (:mod:`imputer.dask.mixed`).
        """
        XtXb = self.XtX @ b
        return GramSums(
            n=self.n,
            XtX=self.XtX,
            Xty=self.Xty - XtXb,
            yty=float(self.yty - 2.0 * b @ self.Xty + b @ XtXb),
            XtZ=self.XtZ,
            Zty=tuple(zy - XtZ.T @ b for zy, XtZ in zip(self.Zty, self.XtZ)),
            ZZ=self.ZZ,
        )


    def reduced(self, j: int, T: sp.spmatrix, t: sp.spmatrix) -> GramSums:
        """The sums with term ``j``'s columns ``Z_j T`` and an appended term ``Z_j t``.

        For the reduced-rank probe (:class:`imputer.mixed._rank.ReducedEngine`) when only
        the sums are known (a Dask fit): with ``W = [X, Z_1..Z_k]`` the new cross products
        are the old ones multiplied by ``T`` or ``t`` on term ``j``'s side.

        Parameters
        ----------
        j : int
        T : sparse matrix, shape (q_j d_j, q_j r)
        t : sparse matrix, shape (q_j d_j, q_j)
        """
        k = len(self.Zty)
        right = {i: (T if i == j else None) for i in range(k)}
        right[k] = t
        src = {i: i for i in range(k)}
        src[k] = j

        def zz(a: int, b: int) -> sp.csr_matrix:  # Z'_a Z'_b of the new terms, a <= b
            sa, sb = src[a], src[b]
            M = self.ZZ[(sa, sb)] if sa <= sb else self.ZZ[(sb, sa)].T
            if right[a] is not None:
                M = right[a].T @ M
            if right[b] is not None:
                M = M @ right[b]
            return sp.csr_matrix(M)

        def xz(a: int) -> np.ndarray:
            M = self.XtZ[src[a]]
            return M if right[a] is None else np.asarray((right[a].T @ M.T).T)

        def zy(a: int) -> np.ndarray:
            v = self.Zty[src[a]]
            return v if right[a] is None else np.asarray(right[a].T @ v).ravel()

        return GramSums(
            n=self.n, XtX=self.XtX, Xty=self.Xty, yty=self.yty,
            XtZ=tuple(xz(a) for a in range(k + 1)),
            Zty=tuple(zy(a) for a in range(k + 1)),
            ZZ={(a, b): zz(a, b) for a in range(k + 1) for b in range(a, k + 1)},
        )


def gram_sums(X: np.ndarray, y: np.ndarray, Zs: list[sp.csr_matrix]) -> GramSums:
    """The cross products of ``W = [X, Z_1, ..., Z_k]`` and ``y`` over the given rows.

    Parameters
    ----------
    X : ndarray, shape (n, p)
    y : ndarray, shape (n,)
    Zs : list of csr_matrix, shapes (n, q_i d_i)

    Returns
    -------
    GramSums
    """
    ZT = [Z.T.tocsr() for Z in Zs]
    k = len(Zs)
    return GramSums(
        n=int(X.shape[0]),
        XtX=X.T @ X,
        Xty=X.T @ y,
        yty=float(y @ y),
        XtZ=tuple(np.asarray((ZT[i] @ X).T) for i in range(k)),
        Zty=tuple(np.asarray(ZT[i] @ y).ravel() for i in range(k)),
        ZZ={(i, j): (ZT[i] @ Zs[j]).tocsr() for i in range(k) for j in range(i, k)},
    )


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
        self._finish(gram_sums(X, y, Zs), Ls, dims)

    @classmethod
    def from_sums(cls, sums: GramSums, Ls: list[np.ndarray | None], dims: list[int] | None = None) -> Gram:
        """The statistics from precomputed cross products (e.g. summed over a Dask DataFrame's partitions).

        Parameters
        ----------
        sums : GramSums
            Of the observed rows, with ``y`` already centred on its OLS fit.
        Ls, dims
            As for the constructor.
        """
        self = cls.__new__(cls)
        self._finish(sums, Ls, dims)
        return self

    def _finish(self, sums: GramSums, Ls: list[np.ndarray | None], dims: list[int] | None) -> None:
        self.n, self.p = sums.n, sums.XtX.shape[0]
        self.k = len(sums.Zty)
        self.L = Ls
        self.d = [1] * self.k if dims is None else [int(d) for d in dims]
        self.r = [zy.shape[0] if L is None else L.shape[1] for zy, L in zip(sums.Zty, Ls)]
        self.nl = [r // d for r, d in zip(self.r, self.d)]
        self.XtX = sums.XtX
        self.Xty = sums.Xty
        self.yty = sums.yty
        self.XtZ: list[np.ndarray] = []
        self.Zty: list[np.ndarray] = []
        self._ZZ: dict[tuple[int, int], np.ndarray | sp.spmatrix] = {}
        for i in range(self.k):
            self.XtZ.append(self._right(sums.XtZ[i], i))
            self.Zty.append(self._left(sums.Zty[i], i))
            for j in range(i, self.k):
                block = sums.ZZ[(i, j)]
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
