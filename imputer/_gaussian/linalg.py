r"""Batched linear algebra for the Gaussian kernels (private; clean input assumed).

* :func:`precision`: ``Lambda = Sigma^{-1}`` and ``log|Sigma|`` through a Cholesky factor
  and LAPACK ``potri`` (``p^3`` flops in all, a third of them the factorisation; solving
  against the identity costs ``7 p^3 / 3``).
* :func:`spd_inverse_batch`: inverses and log-determinants of a stack of symmetric
  positive-definite ``m x m`` matrices, by a Gauss-Jordan *sweep* vectorised over the
  stack (batch-last storage, so every vector operation runs over contiguous memory),
  or per-matrix LAPACK ``potrf``/``potri`` for ``m >= _SWEEP_MAX_M`` (measured crossover).
* :func:`chunk_conditional`: for a chunk of missingness patterns ``M`` with ``m`` cells
  each, the conditional covariances ``C_M = (Lambda_MM)^{-1}`` (Schur complement:
  ``C_M = Sigma_MM - Sigma_MO Sigma_OO^{-1} Sigma_OM``) and ``log|C_M|``; the sweep's
  pivots are the successive Schur complements, so their logs sum to ``log|Lambda_MM|``.
* :func:`cholesky_batch`: lower Cholesky factors ``L L' = A`` of a stack.

A matrix that is not numerically positive definite raises :class:`Infeasible`.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg.lapack as lapack

__all__ = [
    "floor_correlation",
    "SWEEP_MAX_M",
    "Infeasible",
    "cholesky_batch",
    "chunk_conditional",
    "precision",
    "precision_of_factor",
    "mirror_upper",
    "spd_inverse_batch",
]

# pattern blocks of this size or larger are inverted by LAPACK potrf + potri instead of
# the sweep (measured per matrix: the sweep 1.4 us at m = 8, 11 us at m = 16, 29 us at
# m = 20, 78 us at m = 32; potrf + potri 6, 13, 18, 25 us)
SWEEP_MAX_M = 18
_SWEEP_MAX_M = SWEEP_MAX_M


class Infeasible(Exception):
    """The parameters are not a valid normal (covariance not numerically positive definite)."""


def precision(sigma: np.ndarray) -> tuple[np.ndarray, float]:
    """``(Sigma^-1, log|Sigma|)`` through a Cholesky factor; raises :class:`Infeasible`.

    LAPACK ``potrf`` then ``potri`` (the inverse from the factor, one triangle), mirrored
    to a symmetric C-ordered array.
    """
    if not np.all(np.isfinite(sigma)):
        raise Infeasible("non-finite covariance")
    # a symmetric C-ordered matrix is its own Fortran-ordered transpose: no copy for LAPACK
    a = np.array(sigma, dtype=float, order="C").T
    chol, info = lapack.dpotrf(a, lower=1, clean=0, overwrite_a=1)
    if info != 0:
        raise Infeasible("covariance not positive definite" if info > 0 else "invalid covariance")
    diag = np.diag(chol).copy()
    if np.any(diag <= 0.0) or not np.all(np.isfinite(diag)):
        raise Infeasible("singular covariance")
    inv, info = lapack.dpotri(chol, lower=1, overwrite_c=1)
    if info != 0:
        raise Infeasible("singular covariance")
    # Fortran-ordered with its lower triangle set: its C-ordered transpose has the upper one
    return mirror_upper(inv.T), 2.0 * float(np.sum(np.log(diag)))


def precision_of_factor(factor: np.ndarray) -> tuple[np.ndarray, float]:
    """``(Sigma^-1, log|Sigma|)`` from a lower Cholesky factor ``L`` (``Sigma = L L'``) already at hand.

    ``factor`` (shape (p, p), C-ordered, lower triangular) is overwritten. LAPACK ``potri``
    only: the two thirds of :func:`precision` after the factorisation. Raises
    :class:`Infeasible` for a zero, negative or non-finite diagonal.
    """
    diag = np.diag(factor).copy()
    if not (np.all(diag > 0.0) and np.all(np.isfinite(diag))):
        raise Infeasible("singular covariance")
    # the C-ordered L is the Fortran-ordered L' = U with Sigma = U'U: potri on the upper
    # factor writes the upper triangle of the inverse (Fortran order), in place
    inv, info = lapack.dpotri(factor.T, lower=0, overwrite_c=1)
    if info != 0:
        raise Infeasible("singular covariance")
    # mirror_upper copies a view's upper triangle onto its lower one whatever the order
    return np.ascontiguousarray(mirror_upper(inv).T), 2.0 * float(np.sum(np.log(diag)))


def mirror_upper(a: np.ndarray, block: int = 64) -> np.ndarray:
    """Copy the upper triangle of a square C-ordered array onto its lower one, in place.

    By square tiles (a whole-matrix transposed copy strides through memory and is 5-10x
    slower for ``p`` in the hundreds or more). Returns ``a``, now symmetric.
    """
    p = a.shape[0]
    if p <= 512:  # one masked copy (the transposed read still fits in cache)
        np.copyto(a, a.T.copy(), where=_strict_lower_mask(p))
        return a
    for i in range(0, p, block):
        j = min(i + block, p)
        a[j:, i:j] = a[i:j, j:].T
        low_r, low_c = _lower_indices(j - i)
        tile = a[i:j, i:j]
        tile[low_r, low_c] = tile[low_c, low_r]
    return a


@functools.lru_cache(maxsize=8)
def _strict_lower_mask(p: int) -> np.ndarray:
    """``i > j`` for a ``p x p`` array (read-only, cached)."""
    mask = np.tril(np.ones((p, p), dtype=bool), -1)
    mask.flags.writeable = False
    return mask


@functools.lru_cache(maxsize=64)
def _strict_upper_mask(m: int) -> np.ndarray:
    """``i < j`` for an ``m x m`` array (read-only, cached)."""
    mask = np.triu(np.ones((m, m), dtype=bool), 1)
    mask.flags.writeable = False
    return mask


@functools.cache
def _lower_indices(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the strict lower triangle of an ``m x m`` array."""
    return np.tril_indices(m, -1)


def _potr_inverse(mats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses and log-determinants of a ``(G, m, m)`` SPD stack, one LAPACK pair per matrix.

    ``mats`` (C-ordered, owned by the caller) is overwritten with the inverses.
    """
    g, m, _ = mats.shape
    diag = np.empty((g, m))
    potrf, potri = lapack.dpotrf, lapack.dpotri
    for i in range(g):
        # symmetric: the C-ordered matrix is its own Fortran-ordered transpose, so LAPACK
        # works in place; its lower triangle is the C upper one
        chol, info = potrf(mats[i].T, lower=1, clean=0, overwrite_a=1)
        diag[i] = np.diagonal(chol)
        if info == 0:
            inv, info = potri(chol, lower=1, overwrite_c=1)
        if info != 0:
            raise Infeasible("matrix not positive definite")
        if not np.may_share_memory(inv, mats):  # (f2py copied after all)
            mats[i] = inv.T
    if not np.all(diag > 0.0):
        raise Infeasible("matrix not positive definite")
    # the strict lower triangle from the upper one: one masked copy of the stack (numpy
    # buffers the overlapping source), 3-4x faster than a fancy-indexed one (100 x 300:
    # 0.85 -> 0.31 ms for 100 blocks of 60; m = 200: 105 -> 30 us a block)
    np.copyto(mats.transpose(0, 2, 1), mats, where=_strict_upper_mask(m))
    return mats, 2.0 * np.log(diag).sum(axis=1)


def _sweep_batch_last(a: np.ndarray) -> np.ndarray:
    """Invert a stack of SPD matrices stored batch-last, ``a[j, k, g]``, in place.

    Gauss-Jordan sweep on every pivot: ``m`` vector operations on the ``(m, m, G)``
    stack, each running over the contiguous batch axis. The pivots are the successive
    Schur complements, so a non-positive pivot means the matrix is not positive
    definite (checked once at the end: after a bad pivot the later steps are
    meaningless, possibly inf/nan, but the matrix is rejected anyway).

    Returns the pivots, shape ``(m, G)``; ``a`` then holds the inverses.
    """
    m, _, g = a.shape
    pivots = np.empty((m, g))
    tmp = np.empty_like(a)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for k in range(m):
            d = pivots[k]
            d[:] = a[k, k]
            rd = a[k] / d
            # rank-one update a -= a[:, k] rd'; einsum's outer-product loop is up to 2x
            # faster than broadcasting for m >= 6 (short batch rows), slower below
            if m >= 6:
                np.einsum("jg,kg->jkg", a[:, k], rd, out=tmp)
            else:
                np.multiply(a[:, k][:, None, :], rd[None, :, :], out=tmp)
            a -= tmp
            a[k] = rd
            a[:, k] = rd
            a[k, k] = -1.0 / d
    if not np.all(pivots > 0.0):
        raise Infeasible("matrix not positive definite")
    np.negative(a, out=a)
    return pivots


def spd_inverse_batch(mats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses and log-determinants of a stack of symmetric positive-definite matrices.

    For ``m < _SWEEP_MAX_M``: :func:`_sweep_batch_last` (callers with many matrices pass
    chunks of about ``_CHUNK_ELEMENTS`` numbers, so that the sweep runs in cache). For
    larger ``m`` the per-matrix LAPACK calls (``potrf``, ``potri``: ``m^3`` flops) are
    faster (measured crossover).

    Parameters
    ----------
    mats : ndarray, shape (G, m, m)

    Returns
    -------
    inv : ndarray, shape (G, m, m)
    logdet : ndarray, shape (G,)
        ``log|mats|``.
    """
    a = np.asarray(mats, dtype=float)
    g, m, _ = a.shape
    if m == 1:
        d = a[:, 0, 0]
        if not np.all(d > 0.0):
            raise Infeasible("matrix not positive definite")
        return (1.0 / d)[:, None, None], np.log(d)
    if m >= _SWEEP_MAX_M:
        return _potr_inverse(np.array(a, order="C"))
    bl = a.transpose(1, 2, 0).copy()
    pivots = _sweep_batch_last(bl)
    return bl.transpose(2, 0, 1), np.log(pivots).sum(axis=0)


def chunk_conditional(prec: np.ndarray, miss: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``C_M = (Lambda_MM)^-1`` for a chunk of patterns with ``m`` missing cells each.

    Returns ``(cond_t, logdet, cells)``: the inverses batch-last, shape ``(m, m, g)``;
    ``log|C_M|``, shape ``(g,)``; and the flat positions ``j * p + k`` in a ``p x p``
    matrix of every element of ``cond_t`` (same shape). For ``m >= _SWEEP_MAX_M`` both
    are transposed views of pattern-major ``(g, m, m)`` arrays (``cond_t.transpose(2, 0,
    1)`` is then C-contiguous, no copy).
    """
    p = prec.shape[0]
    g, m = miss.shape
    if m < _SWEEP_MAX_M:
        mt = np.ascontiguousarray(miss.T)  # C-ordered (m, m, g) index, hence gather
        cells = mt[:, None, :] * p + mt[None, :, :]
        lam = prec.reshape(-1)[cells]  # batch-last gather: contiguous along the patterns
        if m == 1:
            d = lam[0, 0]
            if not np.all(d > 0.0):
                raise Infeasible("matrix not positive definite")
            return (1.0 / d)[None, None, :], -np.log(d), cells
        pivots = _sweep_batch_last(lam)
        return lam, -np.log(pivots).sum(axis=0), cells
    # LAPACK per matrix: gather pattern-major, return batch-last views
    cells_g = miss[:, :, None] * p + miss[:, None, :]
    inv, logdet = _potr_inverse(prec.reshape(-1).take(cells_g))
    return inv.transpose(1, 2, 0), -logdet, cells_g.transpose(1, 2, 0)


def cholesky_batch(mats: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack of symmetric positive-definite matrices.

    Parameters
    ----------
    mats : ndarray, shape (G, m, m)

    Returns
    -------
    chol : ndarray, shape (G, m, m)
        Lower triangular, ``chol[g] @ chol[g].T == mats[g]``.
    """
    a = np.asarray(mats, dtype=float)
    if a.shape[1] == 1:
        d = a[:, 0, 0]
        if not np.all(d > 0.0):
            raise Infeasible("matrix not positive definite")
        return np.sqrt(d)[:, None, None]
    try:
        chol = np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        raise Infeasible("matrix not positive definite") from None
    if not np.all(np.diagonal(chol, axis1=1, axis2=2) > 0.0):
        raise Infeasible("matrix not positive definite")
    return chol


def floor_correlation(corr: np.ndarray, floor: float) -> np.ndarray:
    """``(1 - t) R + t I`` with the smallest ``t >= 0`` that puts the smallest eigenvalue at ``floor`` or above.

    Parameters
    ----------
    corr : ndarray, shape (p, p)
        A symmetric matrix with unit diagonal (a correlation matrix, possibly indefinite).
    floor : float
        Smallest eigenvalue wanted, in (0, 1).

    Returns
    -------
    ndarray, shape (p, p)
        ``corr`` itself when its smallest eigenvalue is already at least ``floor``.
    """
    e_min = float(np.linalg.eigvalsh(corr)[0])
    if e_min < floor:
        t = (floor - e_min) / (1.0 - e_min)
        corr = (1.0 - t) * corr + t * np.eye(corr.shape[0])
    return corr
