r"""The I-step's sufficient statistics of a frequent pattern's rows, drawn without the rows.

Between two imputations the P-step needs only ``sum z`` and ``sum z z'`` of the completed
rows, not the rows. For a frequent pattern (``c`` rows, missing set ``M``, ``m = |M|``)
with ``v_i`` the row with 0 in its missing cells, the I-step draws
``z_{M,i} = zhat_{M,i} + L e_i`` with ``zhat_{M,i} = a - K v_i`` (``K = C_M Lambda_{M.}``,
``a = C_M (Lambda mu)_M``, ``L L' = C_M``) and ``e_i ~ N(0, I_m)`` i.i.d. Then

.. math::

    \sum z_M = (c a - K t) + L s_e, \qquad
    \sum z_M v^\top = (a t^\top - K T) + L P_e,

    \sum z_M z_M^\top = \textstyle\sum \hat z_M \hat z_M^\top + L Q + Q^\top L^\top + L E^\top E L^\top,
    \qquad Q = \sum e_i \hat z_{M,i}^\top = s_e a^\top - P_e K^\top,

where the deviates enter only through ``E' H = [s_e, P_e]`` (``H = [1, V]``, the rows'
``(1, v_i')``) and ``E' E``. These are drawn jointly and exactly, at a cost independent
of ``c``: with ``H'H = R'R`` (``R``: ``q x q`` from the eigen-decomposition of
``H'H = [[c, t'], [t, T]]`` restricted to the observed columns, rows of the null space
zero; ``r`` = its rank), ``E = Q_H G + E_perp`` gives

.. math::

    E^\top H \overset{d}{=} G^\top R, \qquad
    E^\top E \overset{d}{=} G^\top G + W, \qquad
    G \sim N(0, I)_{q \times m}, \quad W \sim \mathcal{W}_m(c - r, I) \text{ independent}

(``W`` by Bartlett's decomposition, singular when ``c - r < m``). The pattern-level
means ``c a - K t`` etc. are the E-step's (:func:`imputer._gaussian.estep._dense_chunk`).
So a non-imputation iteration of data augmentation costs an E-step plus ``O(q m^2)``
per frequent pattern, not a draw per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imputer._gaussian.chunks import Chunk
from imputer._gaussian.estep import _dense_chunk
from imputer._gaussian.layout import StandardData

__all__ = ["DenseFactor", "dense_factors", "draw_dense_sums"]


@dataclass(frozen=True)
class DenseFactor:
    """Per chunk of frequent patterns: the square root of ``H'H`` and the Wishart df.

    Attributes
    ----------
    root : ndarray, shape (g, q, 1 + p)
        ``R`` with its columns placed at ``[1, z_1 .. z_p]`` (zero at the missing columns),
        ``q = 1 + p - m``.
    df : ndarray of int, shape (g,)
        ``c - r``.
    """

    root: np.ndarray
    df: np.ndarray


def dense_factors(data: StandardData) -> dict[int, DenseFactor]:
    """:class:`DenseFactor` of every chunk of frequent patterns, by chunk position."""
    out: dict[int, DenseFactor] = {}
    p = data.p
    for pos, spec in enumerate(data.chunks):
        if not spec.dense:
            continue
        group = data.patterns.groups[spec.group]
        ds = data.dense[spec.group]
        pa, pb = spec.pat_start, spec.pat_stop
        miss = group.miss[pa:pb]
        g, m = miss.shape
        observed = np.ones((g, p), dtype=bool)
        np.put_along_axis(observed, miss, False, axis=1)
        obs = np.nonzero(observed)[1].reshape(g, p - m)
        q = 1 + p - m
        hh = np.empty((g, q, q))
        c = group.counts[pa:pb].astype(float)
        t = np.take_along_axis(ds.t[pa:pb], obs, axis=1)
        hh[:, 0, 0] = c
        hh[:, 0, 1:] = t
        hh[:, 1:, 0] = t
        big = ds.T[pa:pb]
        hh[:, 1:, 1:] = big[np.arange(g)[:, None, None], obs[:, :, None], obs[:, None, :]]
        w, u = np.linalg.eigh(hh)
        keep = w > 1e-12 * w[:, -1:] * q
        r = keep.sum(axis=1)
        root_q = np.sqrt(np.where(keep, w, 0.0))[:, :, None] * u.transpose(0, 2, 1)  # rows sqrt(w_k) u_k'
        root = np.zeros((g, q, 1 + p))
        root[:, :, 0] = root_q[:, :, 0]
        root[np.arange(g)[:, None, None], np.arange(q)[None, :, None], (1 + obs)[:, None, :]] = root_q[:, :, 1:]
        out[pos] = DenseFactor(root=root, df=(group.counts[pa:pb] - r).astype(np.int64))
    return out


def _wishart_identity(df: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """``W_g ~ Wishart_m(df_g, I)`` for integer ``df_g >= 0`` (singular below m), shape (g, m, m)."""
    g = df.size
    i = np.arange(m)
    diag_df = df[:, None] - i[None, :]
    chi = rng.chisquare(np.maximum(diag_df, 1).astype(float), size=(g, m))
    t = np.zeros((g, m, m))
    t[:, i, i] = np.sqrt(np.where(diag_df > 0, chi, 0.0))
    rows, cols = np.tril_indices(m, -1)
    normals = rng.standard_normal((g, rows.size))
    t[:, rows, cols] = np.where(cols[None, :] < df[:, None], normals, 0.0)
    return t @ t.transpose(0, 2, 1)


def draw_dense_sums(
    ch: Chunk,
    chol: np.ndarray,
    factor: DenseFactor,
    data: StandardData,
    prec: np.ndarray,
    prec_mu: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drawn ``(sum z_M, sum z_M v', sum z_M z_M')`` per pattern of a frequent chunk.

    Parameters
    ----------
    ch : Chunk
        The chunk (``cond`` = ``C_M``).
    chol : ndarray, shape (g, m, m)
        Lower Cholesky factors of ``C_M``.
    factor : DenseFactor
    data : StandardData
    prec, prec_mu : ndarray, shapes (p, p), (p,)
        ``Lambda`` and ``Lambda mu``.
    rng : numpy.random.Generator
        ``G`` (``standard_normal((g, q, m))``) then ``W`` (chi-squares, normals).

    Returns
    -------
    u, X, Y : ndarrays, shapes (g, m), (g, m, p), (g, m, m)
    """
    spec = ch.spec
    cond, miss = ch.cond, ch.miss
    u, X, Y = _dense_chunk(cond, miss, prec, prec_mu, ch.counts, data.dense[spec.group], spec.pat_start, spec.pat_stop)
    g, m = miss.shape
    K = cond @ prec[miss]
    a = np.einsum("gjk,gk->gj", cond, prec_mu[miss])
    q = factor.root.shape[1]
    G = rng.standard_normal((g, q, m))
    eh = G.transpose(0, 2, 1) @ factor.root  # (g, m, 1 + p)
    s_e, p_e = eh[:, :, 0], eh[:, :, 1:]
    ee = G.transpose(0, 2, 1) @ G + _wishart_identity(factor.df, m, rng)
    u = u + np.einsum("gjk,gk->gj", chol, s_e)
    X = X + chol @ p_e
    lq = chol @ (s_e[:, :, None] * a[:, None, :] - p_e @ K.transpose(0, 2, 1))
    Y = Y + lq + lq.transpose(0, 2, 1) + chol @ ee @ chol.transpose(0, 2, 1)
    return u, X, Y
