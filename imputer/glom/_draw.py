r"""Draws of the missing cells under the general location model (private; for multiple imputation).

Given ``theta = (pi, mu, Sigma)`` (standardised units), row ``i``'s missing cells are drawn
from their joint posterior predictive distribution in two stages:

1. its cell ``c`` from ``r_ic = pi_c N(z_O; mu_{c,O}, Sigma_OO) / f_i`` over the cells
   ``C_i`` compatible with its observed levels (the responsibilities of
   :mod:`imputer.glom._estep`; one cell, probability 1, when every level is observed).
   The drawn cell fixes every missing level of the row jointly, and each missing level's
   marginal frequency is its posterior level probability ``sum_{c: level_j(c) = l} r_ic``.
2. its missing continuous cells from the cell's conditional normal
   ``z_M ~ N(mu_{c,M} + B (z_O - mu_{c,O}), Sigma_MM - B Sigma_OM)``, ``B = Sigma_MO Sigma_OO^{-1}``.

The random numbers are consumed block by block in the plan's order: per block, ``r``
uniforms for the cells (rows with a missing level only), then ``r x |M|`` standard normals.
"""

from __future__ import annotations

import numpy as np

from imputer.glom._estep import GlomPlan, cell_weights

__all__ = ["draw_cells"]


def _cond_factor(cond: np.ndarray) -> np.ndarray:
    """A square root ``R`` of the conditional covariance (``R R' = cond``), semi-definite allowed."""
    try:
        return np.linalg.cholesky(cond)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(0.5 * (cond + cond.T))
        return v * np.sqrt(np.maximum(w, 0.0))


def draw_cells(
    plan: GlomPlan, pi: np.ndarray, means: np.ndarray, sigma: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One draw of every row's cell and missing continuous cells.

    Parameters
    ----------
    plan : GlomPlan
        The rows (standardised continuous values, level codes).
    pi : ndarray, shape (C,)
    means : ndarray, shape (C, p)
    sigma : ndarray, shape (p, p)
        Parameters in the plan's standardised units.
    rng : numpy.random.Generator

    Returns
    -------
    z : ndarray, shape (n, p)
        Observed values where observed, draws where missing (standardised units).
    cell : ndarray of intp, shape (n,)
        Each row's drawn cell (``plan.cells.grid[cell]`` are its levels; observed levels kept).

    Raises
    ------
    Infeasible
        ``Sigma`` not positive definite, or a row with zero density.
    """
    n, p, k = plan.n, plan.p, plan.cells.n_cells
    with np.errstate(divide="ignore"):
        log_pi = np.log(pi)
    z = np.empty((n, p))
    cell_out = np.empty(n, dtype=np.intp)
    cache: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]] = {}
    for blk in plan.blocks:
        key = tuple(blk.mis.tolist())
        if key not in cache:
            chol, b, cond, logdet = plan._factors(sigma, blk.obs, blk.mis)
            cache[key] = (chol, b, cond, logdet, _cond_factor(cond) if blk.mis.size else np.zeros((0, 0)))
        chol, b, cond, logdet, root = cache[key]
        r = blk.rows.size
        if blk.cell is not None:
            cell = blk.cell
        else:
            e, _ = cell_weights(plan._joint(blk, log_pi, means, chol, logdet))
            cum = np.cumsum(e, axis=1)
            u = rng.random(r) * cum[:, -1]
            cell = np.minimum((cum <= u[:, None]).sum(axis=1), k - 1)
            # never a cell of probability zero (u can equal a cumulative sum only on a zero step)
            bad = e[np.arange(r), cell] == 0.0
            if bad.any():
                cell[bad] = np.argmax(e[bad], axis=1)
        out = np.empty((r, p))
        out[:, blk.obs] = blk.zo
        if blk.mis.size:
            mean = means[np.ix_(cell, blk.mis)] + (blk.zo - means[np.ix_(cell, blk.obs)]) @ b.T
            out[:, blk.mis] = mean + rng.standard_normal((r, blk.mis.size)) @ root.T
        z[blk.rows] = out
        cell_out[blk.rows] = cell
    return z, cell_out
