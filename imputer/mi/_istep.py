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
returns the complete-data sufficient statistics ``(sum z, sum z z')`` the P-step needs.
"""

from __future__ import annotations

import numpy as np

from imputer._gaussian.chunks import iter_chunks, update_block
from imputer._gaussian.layout import StandardData
from imputer._gaussian.linalg import precision

__all__ = ["completed_sums", "draw_missing"]


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
    for ch in iter_chunks(data.patterns, prec, data.chunks, factor=True):
        assert ch.chol is not None
        for blk in data.blocks[ch.spec.block_start : ch.spec.block_stop]:
            block = data.work[blk.start : blk.stop]
            update_block(block, blk, ch.cond, prec, prec_mu)
            e = rng.standard_normal(blk.flat.shape)
            if ch.n_miss == 1:
                noise = np.take(ch.chol[:, 0, 0], blk.loc)[:, None] * e
            else:
                noise = np.einsum("rjk,rk->rj", np.take(ch.chol, blk.loc, axis=0), e)
            flat = block.reshape(-1)  # a view: the block is a run of rows of a C-ordered array
            flat[blk.flat] += noise


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
