r"""The I-step: draw every missing cell from its conditional normal, in place (private).

Under ``z ~ N_p(mu, Sigma)`` the missing cells ``M`` of a row given its observed cells
``O`` are

.. math::

    z_M \mid z_O \sim N\big(\hat z_M,\; C_M\big), \qquad
    \hat z_M = \mu_M - C_M \Lambda_{MO}(z_O - \mu_O), \quad C_M = (\Lambda_{MM})^{-1},

drawn as ``z_M = zhat_M + L_M e`` with ``L_M L_M' = C_M`` (Cholesky) and ``e ~ N(0, I)``.
:func:`draw_missing` does this for every incomplete row of a layout's work array, block
by block (the pattern loop of :mod:`imputer._gaussian.chunks`: no loop over rows),
consuming the generator exactly as :func:`imputer._gaussian.rows.conditional_draws`
does (one ``standard_normal`` array per block, in layout order), so both give the same
numbers; it writes in place instead of building an ``n x p`` copy. :func:`completed_sums`
returns the complete-data sufficient statistics ``(sum z, sum z z')`` the P-step needs;
:func:`draw_sums` draws those statistics directly, the frequent patterns' at the pattern
level (:mod:`imputer.mi._dense`), for the iterations between imputations.
"""

from __future__ import annotations

import numpy as np

from imputer._gaussian.chunks import Chunk, iter_chunks, update_block
from imputer._gaussian.layout import StandardData
from imputer._gaussian.linalg import Infeasible, cholesky_batch, precision
from imputer.mi._dense import DenseFactor, draw_dense_sums

__all__ = ["completed_sums", "draw_missing", "draw_sums"]

# below this many missing cells the Cholesky factors are computed batch-last in numpy
_BATCH_LAST_MAX_M = 16


def cond_cholesky(ch: Chunk) -> np.ndarray:
    """Lower Cholesky factors of the chunk's ``C_M``, shape (g, m, m).

    Small ``m``: column by column over the batch-last stack (``m`` vector steps over the
    ``g`` patterns, instead of ``g`` tiny LAPACK calls); else LAPACK per matrix.

    Raises
    ------
    Infeasible
        A ``C_M`` not numerically positive definite.
    """
    m = ch.n_miss
    if m >= _BATCH_LAST_MAX_M:
        return cholesky_batch(ch.cond)
    a = ch.cond_t  # (m, m, g)
    low = np.zeros_like(a)
    for j in range(m):
        d = a[j, j] - np.einsum("kg,kg->g", low[j, :j], low[j, :j])
        if not np.all(d > 0.0):
            raise Infeasible("conditional covariance not positive definite")
        low[j, j] = np.sqrt(d)
        if j + 1 < m:
            low[j + 1 :, j] = (a[j + 1 :, j] - np.einsum("ikg,kg->ig", low[j + 1 :, :j], low[j, :j])) / low[j, j]
    return np.ascontiguousarray(low.transpose(2, 0, 1))


def _draw_blocks(data: StandardData, ch: Chunk, chol: np.ndarray, prec: np.ndarray, prec_mu: np.ndarray,
                 rng: np.random.Generator, sums: list[np.ndarray] | None) -> None:
    """Draw the rows of a chunk's blocks in place (and add their sums to ``sums``)."""
    for blk in data.blocks[ch.spec.block_start : ch.spec.block_stop]:
        block = data.work[blk.start : blk.stop]
        update_block(block, blk, ch.cond, prec, prec_mu)
        e = rng.standard_normal(blk.flat.shape)
        if ch.n_miss == 1:
            noise = np.take(chol[:, 0, 0], blk.loc)[:, None] * e
        else:
            noise = np.einsum("rjk,rk->rj", np.take(chol, blk.loc, axis=0), e)
        flat = block.reshape(-1)  # a view: the block is a run of rows of a C-ordered array
        flat[blk.flat] += noise
        if sums is not None:
            sums[0] += np.ones(block.shape[0]) @ block
            sums[1] += block.T @ block


def draw_missing(data: StandardData, mu: np.ndarray, sigma: np.ndarray, rng: np.random.Generator) -> None:
    """Overwrite the missing cells of ``data.work`` with draws from their conditional normal.

    Parameters
    ----------
    data : StandardData
        Layout (its work array's missing cells are overwritten; whatever they held does
        not matter: the conditional means are computed in update form).
    mu : ndarray, shape (p,)
    sigma : ndarray, shape (p, p), positive definite
    rng : numpy.random.Generator
        One ``standard_normal(blk.flat.shape)`` per row block, in layout order.

    Raises
    ------
    Infeasible
        ``sigma`` (or a block of its precision) is not numerically positive definite.
    """
    prec = precision(sigma)[0]
    prec_mu = prec @ mu
    for ch in iter_chunks(data.patterns, prec, data.chunks):
        _draw_blocks(data, ch, cond_cholesky(ch), prec, prec_mu, rng, None)


def draw_sums(
    data: StandardData,
    mu: np.ndarray,
    sigma: np.ndarray,
    rng: np.random.Generator,
    factors: dict[int, DenseFactor],
) -> tuple[np.ndarray, np.ndarray]:
    """An I-step reduced to what the next P-step needs: drawn ``(sum z, sum z z')`` of all rows.

    The rows of infrequent patterns are drawn in the work array (as :func:`draw_missing`);
    the frequent patterns' sums are drawn at the pattern level
    (:func:`imputer.mi._dense.draw_dense_sums`), their rows left stale. Same distribution
    as :func:`draw_missing` followed by :func:`completed_sums`.

    Parameters
    ----------
    data : StandardData
    mu, sigma : ndarray, shapes (p,), (p, p)
    rng : numpy.random.Generator
        Consumed chunk by chunk in layout order.
    factors : dict
        :func:`imputer.mi._dense.dense_factors` of ``data``.

    Returns
    -------
    s1 : ndarray, shape (p,)
    s2 : ndarray, shape (p, p), symmetric
    """
    p = data.p
    prec = precision(sigma)[0]
    prec_mu = prec @ mu
    sums = [data.s1_complete.copy(), data.s2_complete.copy()]
    s1_flat = np.zeros(p)
    cross_flat = np.zeros(p * p)
    y_flat = np.zeros(p * p)
    cols_p = np.arange(p)
    for pos, ch in enumerate(iter_chunks(data.patterns, prec, data.chunks)):
        chol = cond_cholesky(ch)
        factor = factors.get(pos)
        if factor is None:
            _draw_blocks(data, ch, chol, prec, prec_mu, rng, sums)
            continue
        u, x, y = draw_dense_sums(ch, chol, factor, data, prec, prec_mu, rng)
        s1_flat += np.bincount(ch.miss.reshape(-1), weights=u.reshape(-1), minlength=p)
        cells = ch.miss[:, :, None] * p + cols_p
        cross_flat += np.bincount(cells.reshape(-1), weights=x.reshape(-1), minlength=p * p)
        y_flat += np.bincount(ch.cells.reshape(-1), weights=y.transpose(1, 2, 0).reshape(-1), minlength=p * p)
    s1, s2 = sums
    if factors:
        cross = cross_flat.reshape(p, p)
        s1 = s1 + data.s1_dense + s1_flat
        s2 = s2 + data.s2_dense + cross + cross.T + y_flat.reshape(p, p)
    return s1, 0.5 * (s2 + s2.T)


def completed_sums(data: StandardData) -> tuple[np.ndarray, np.ndarray]:
    """``(sum z, sum z z')`` over every row as the layout holds them now.

    Returns
    -------
    s1 : ndarray, shape (p,)
    s2 : ndarray, shape (p, p), symmetric
    """
    work = data.work
    s1 = data.s1_complete + work.sum(axis=0)
    s2 = data.s2_complete + work.T @ work
    return s1, 0.5 * (s2 + s2.T)
