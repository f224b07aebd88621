r"""The factorisations of one point, shared by the EM driver's calls at it (private; clean input assumed).

Along an accelerated EM path the driver asks several things of the same packed point
``x = (mu, vech Sigma)``: whether it is feasible, its free coordinates (a Cholesky factor
of ``P Sigma P'``, ``P`` the columns' order from the most to the least observed), its EM
update (the precision ``Lambda = Sigma^{-1}``). On wide data each of these is a ``p x p``
factorisation (``p^3 / 3`` flops) or a pass over ``p^2`` numbers, and computed
apart they were most of an evaluation's cost. :class:`PointCache` keeps, for the two
points last asked about (array objects: the driver never writes into its points), their
``Sigma``, the lower Cholesky factor ``C`` of ``P Sigma P'`` and the precision, each
computed at most once, the precision from the factor (LAPACK ``potri`` alone:
``Lambda = P' (C C')^{-1} P``). The two reorderings around them are gathers by blocks of
rows (:func:`_permuted`), cache-friendly and with no ``p^2`` index to read.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg.lapack as lapack

from imputer._gaussian.linalg import Infeasible, mirror_upper, precision, precision_of_factor

__all__ = ["SHARED_MIN_P", "PointCache", "pack_sigma", "unpack_sigma"]

#: From this many columns the precision comes from the free coordinates' factor (one
#: factorisation shared, the columns reordered around it); below, where a factorisation
#: costs microseconds, directly from ``Sigma`` (measured: at ``p = 4`` the shared route
#: made an EM step 3x slower, 0.3 against 0.1 ms).
SHARED_MIN_P = 64


@functools.lru_cache(maxsize=4)
def _lower_mask(p: int) -> np.ndarray:
    """``i >= j`` for a ``p x p`` array (read-only, cached): C order visits it as ``vech`` does."""
    mask = np.tril(np.ones((p, p), dtype=bool))
    mask.flags.writeable = False
    return mask


#: Rows per block of :func:`_permuted`: a block's gathered rows stay in cache while their
#: columns are permuted (measured at ``p = 2,000``: 10 ms at 16 or 32 rows, 13 at 64,
#: against 16 for one gather through a ``p^2`` index).
_PERMUTE_ROWS = 32


def _permuted(a: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``a[order][:, order]`` of a square C-ordered ``a`` (fresh, C-ordered), by blocks of rows.

    Each block's rows are copied whole (contiguous) and then their columns permuted in
    cache: the same numbers as one gather through a ``p^2`` flat index, without the
    index's ``p^2`` reads.
    """
    p = a.shape[0]
    out = np.empty((p, p))
    for i in range(0, p, _PERMUTE_ROWS):
        rows = a.take(order[i : i + _PERMUTE_ROWS], axis=0)
        # mode="clip": the indices are a permutation, and with the default "raise" numpy
        # buffers out (a copy more: 11 against 8 ms at p = 2,000)
        rows.take(order, axis=1, out=out[i : i + _PERMUTE_ROWS], mode="clip")
    return out


def unpack_sigma(vech: np.ndarray, p: int) -> np.ndarray:
    """``Sigma`` (shape (p, p), C-ordered, fresh) of its lower triangle row by row, shape (p(p+1)/2,).

    A masked write and a tiled mirror: three times faster than a gather through a
    ``p^2`` index at ``p = 2,000`` (9 against 27 ms).
    """
    sigma = np.empty((p, p))
    sigma[_lower_mask(p)] = vech
    mirror_upper(sigma.T)  # the transpose's upper triangle is sigma's lower one
    return sigma


def pack_sigma(sigma: np.ndarray) -> np.ndarray:
    """The lower triangle of a C-ordered ``Sigma`` row by row, shape (p(p+1)/2,) (fresh)."""
    return sigma[_lower_mask(sigma.shape[0])]


class PointCache:
    """``Sigma``, the Cholesky factor of ``P Sigma P'`` and ``(Lambda, log|Sigma|)`` of the two points last asked about.

    Parameters
    ----------
    p : int
    order : ndarray, shape (p,)
        The free coordinates' column order (``P Sigma P' = Sigma[order][:, order]``).
    """

    def __init__(self, p: int, order: np.ndarray) -> None:
        self.p = p
        # P Sigma P' = Sigma[order][:, order], and Lambda = (P Lambda P')[unorder][:, unorder]
        self._order = np.asarray(order, dtype=np.intp)
        self._unorder = np.argsort(self._order)
        self._x: np.ndarray | None = None
        self._sigma: np.ndarray | None = None
        self._factor: np.ndarray | None = None
        self._prec: tuple[np.ndarray, float] | None = None
        # the point before (the driver's accepted point while it works on its update)
        self._older: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, tuple[np.ndarray, float] | None]
        self._older = (None, None, None, None)

    def _at(self, x: np.ndarray) -> None:
        if x is self._x:
            return
        newer = (self._x, self._sigma, self._factor, self._prec)
        if x is self._older[0]:
            self._x, self._sigma, self._factor, self._prec = self._older
        else:
            self._x, self._sigma, self._factor, self._prec = x, None, None, None
        self._older = newer

    def put(self, x: np.ndarray, sigma: np.ndarray) -> None:
        """Record ``Sigma`` at ``x`` where the caller has it (kept, not copied; it must be the
        exactly symmetric matrix whose lower triangle ``x`` holds)."""
        self._at(x)
        self._sigma = sigma

    def sigma(self, x: np.ndarray) -> np.ndarray:
        """``Sigma`` at ``x`` (shape (p, p); shared: not to be written)."""
        self._at(x)
        if self._sigma is None:
            self._sigma = unpack_sigma(x[self.p :], self.p)
        return self._sigma

    def factor(self, x: np.ndarray) -> np.ndarray:
        """The lower Cholesky factor of ``P Sigma P'`` at ``x`` (shared: not to be written); raises :class:`Infeasible`."""
        self._at(x)
        if self._factor is None:
            self._factor = self._ordered_factor(self.sigma(x))
        return self._factor

    def precision(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """``(Lambda, log|Sigma|)`` at ``x``; raises :class:`Infeasible`.

        From :meth:`factor` (LAPACK ``potri``) from :data:`SHARED_MIN_P` columns, below
        directly from ``Sigma`` (:func:`~imputer._gaussian.linalg.precision`: there the
        factorisations cost less than the reordering around them). Either way always the
        same route for a problem, never from a factor the caller made otherwise (the free
        coordinates' ``C``, whose product is ``Sigma`` only up to rounding): an evaluation
        is a function of ``x`` alone, bit for bit, whatever was asked before (near a
        singular ``Sigma`` two routes differ in the objective's fifth digit).
        """
        self._at(x)
        if self._prec is None:
            if self.p >= SHARED_MIN_P:
                self._prec = self._from_factor(self.factor(x).copy())
            else:
                self._prec = precision(self.sigma(x))
        return self._prec

    def precision_of(self, sigma: np.ndarray) -> tuple[np.ndarray, float]:
        """:meth:`precision` of any ``Sigma`` (shape (p, p)), same arithmetic.

        Where ``sigma`` is exactly the ``Sigma`` of a point kept, that point's (its factor
        reused: the fit's last evaluation is at the update whose free coordinates the
        driver took, a copy of that point); else computed, nothing kept.
        """
        for x, kept in ((self._x, self._sigma), (self._older[0], self._older[1])):
            if x is not None and kept is not None and np.array_equal(kept, sigma):
                return self.precision(x)
        if self.p >= SHARED_MIN_P:
            return self._from_factor(self._ordered_factor(sigma))
        return precision(sigma)

    def _ordered_factor(self, sigma: np.ndarray) -> np.ndarray:
        ordered = _permuted(np.ascontiguousarray(sigma), self._order)
        # LAPACK potrf in place on the symmetric matrix's Fortran-ordered transpose (the
        # same numbers), upper: A = U'U, whose U read in C order is the lower L = U'
        # (numpy's cholesky copies in and out around the call and links another OpenBLAS
        # build: 98 against 63 ms at p = 2,000)
        u, info = lapack.dpotrf(ordered.T, lower=0, clean=1, overwrite_a=1)
        if info != 0:
            raise Infeasible("covariance not positive definite" if info > 0 else "invalid covariance")
        c = u.T
        if not np.all(np.diag(c) > 0.0):
            raise Infeasible("singular covariance")
        return c

    def _from_factor(self, c: np.ndarray) -> tuple[np.ndarray, float]:
        """``(Lambda, log|Sigma|)`` of ``P Sigma P' = c c'`` (``c`` overwritten)."""
        lam, logdet = precision_of_factor(c)
        return _permuted(lam, self._unorder), logdet
