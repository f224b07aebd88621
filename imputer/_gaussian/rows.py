r"""Per-row quantities under ``z ~ N_p(mu, Sigma)`` (private; clean input assumed).

For row ``i`` with observed cells ``O`` and missing cells ``M`` (``m_i = |M|``), with
``Lambda = Sigma^{-1}`` and ``C_M = (Lambda_MM)^{-1}``:

* conditional mean ``zhat_M = E[z_M | z_O] = mu_M + Sigma_MO Sigma_OO^{-1}(z_O - mu_O)``
  (the observed cells kept), computed out of place (the layout is not modified);
* Mahalanobis distance of the observed part,
  ``d_i^2 = (z_O - mu_O)' Sigma_OO^{-1} (z_O - mu_O) = (zhat - mu)' Lambda (zhat - mu)``
  (completing by the conditional mean minimises the quadratic form over ``z_M``);
* log-density of the observed part, with ``log|Sigma_OO| = log|Sigma| - log|C_M|``:

  .. math::

      \log N(z_{i,O}; \mu_O, \Sigma_{OO}) = -\tfrac12\big[(p - m_i)\log 2\pi
          + \log|\Sigma| - \log|C_{M_i}| + d_i^2\big],

  whose sum over rows is the observed-data log-likelihood (0 for a row with nothing
  observed);
* conditional draws ``z_M = zhat_M + L_M e``, ``e ~ N(0, I_m)``, ``L_M L_M' = C_M``, for
  multiple imputation.

All outputs are in the original row order and in the layout's units.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from imputer._gaussian.chunks import Chunk, iter_chunks, update_block
from imputer._gaussian.layout import Block, StandardData
from imputer._gaussian.linalg import precision
from imputer._util import LOG_2PI

__all__ = ["conditional_draws", "conditional_means", "row_logdensity", "row_mahalanobis"]


def _completed_blocks(
    data: StandardData, mean: np.ndarray, prec: np.ndarray, *, factor: bool = False
) -> Iterator[tuple[np.ndarray, Chunk, Block]]:
    """Copies of the incomplete rows' blocks completed by their conditional means."""
    prec_mu = prec @ mean
    for ch in iter_chunks(data.patterns, prec, data.chunks, factor=factor):
        for blk in data.blocks[ch.spec.block_start : ch.spec.block_stop]:
            block = data.work[blk.start : blk.stop].copy()
            update_block(block, blk, ch.cond, prec, prec_mu)
            yield block, ch, blk


def conditional_means(data: StandardData, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Every row completed by ``E[z_M | z_O]``, shape (n, p) (observed cells kept).

    Parameters
    ----------
    data : StandardData
        Layout with its complete rows kept (not modified).
    mean : ndarray, shape (p,)
    cov : ndarray, shape (p, p)
    """
    return _fill(data, mean, cov, None)


def conditional_draws(data: StandardData, mean: np.ndarray, cov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every row completed by a draw ``z_M ~ N(E[z_M | z_O], C_M)``, shape (n, p).

    Parameters
    ----------
    data : StandardData
        Layout with its complete rows kept (not modified).
    mean : ndarray, shape (p,)
    cov : ndarray, shape (p, p)
    rng : numpy.random.Generator
        Source of the standard normal deviates (consumed block by block, in layout order).
    """
    return _fill(data, mean, cov, rng)


def _fill(data: StandardData, mean: np.ndarray, cov: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    out = np.empty((data.n, data.p))
    out[data.patterns.complete_rows] = data.complete_rows()
    inc = data.patterns.incomplete_rows
    prec = precision(cov)[0]
    for block, ch, blk in _completed_blocks(data, mean, prec, factor=rng is not None):
        if rng is not None:
            assert ch.chol is not None
            e = rng.standard_normal(blk.flat.shape)
            noise = np.einsum("rjk,rk->rj", np.take(ch.chol, blk.loc, axis=0), e)
            flat = block.reshape(-1)
            flat[blk.flat] += noise
        out[inc[blk.start : blk.stop]] = block
    return out


def _row_quantities(data: StandardData, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(d_i^2, log|C_{M_i}| + m_i log 2 pi, log|Sigma|)`` per row, original order."""
    prec, logdet = precision(cov)
    maha = np.empty(data.n)
    corr = np.zeros(data.n)
    comp = data.complete_rows() - mean
    maha[data.patterns.complete_rows] = np.einsum("ij,ij->i", comp @ prec, comp)
    inc = data.patterns.incomplete_rows
    for block, ch, blk in _completed_blocks(data, mean, prec):
        d = block - mean
        rows = inc[blk.start : blk.stop]
        maha[rows] = np.einsum("ij,ij->i", d @ prec, d)
        corr[rows] = ch.logdet[blk.loc] + ch.n_miss * LOG_2PI
    return maha, corr, logdet


def row_mahalanobis(data: StandardData, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """``d_i^2 = (z_O - mu_O)' Sigma_OO^{-1} (z_O - mu_O)`` per row, shape (n,) (0: nothing observed)."""
    return _row_quantities(data, mean, cov)[0]


def row_logdensity(data: StandardData, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """``log N(z_{i,O}; mu_O, Sigma_OO)`` per row, shape (n,); their sum is the log-likelihood."""
    maha, corr, logdet = _row_quantities(data, mean, cov)
    return -0.5 * (data.p * LOG_2PI + logdet - corr + maha)
