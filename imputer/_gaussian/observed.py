r"""Conditionals from the observed block: the route for rows that observe few cells (private).

Under ``z ~ N_p(mu, Sigma)`` a row with observed set ``O`` (``p_o`` cells) and missing set
``M`` (``m = p - p_o`` cells) has ``z_M | z_O ~ N(mu_M + B (z_O - mu_O), C_M)`` with

.. math::

    B = \Sigma_{MO} \Sigma_{OO}^{-1}, \qquad
    C_M = \Sigma_{MM} - \Sigma_{MO} \Sigma_{OO}^{-1} \Sigma_{OM} = (\Lambda_{MM})^{-1},
    \qquad \log|C_M| = \log|\Sigma| - \log|\Sigma_{OO}|.

The engine's usual route (*precision*, :func:`~imputer._gaussian.linalg.chunk_conditional`)
inverts ``Lambda = Sigma^{-1}`` once (``p^3`` flops) and then ``Lambda_MM`` per pattern
(``m^3``). This module's route (*observed*) factors ``Sigma_OO = L L'`` per pattern instead:
with ``A = L^{-1} Sigma_OM``, ``C_M = Sigma_MM - A'A`` in ``p_o^3 / 3 + p_o^2 m + p_o m^2``
flops (``p_o^2 m`` in all when only the diagonal of ``C_M`` is needed, as for filling), and
a row's conditional mean ``A' (L^{-1} r_O)`` in ``p_o^2 + 2 m p_o`` (``2 m p_o`` with
``B' = L^{-T} A`` formed, for patterns with more than ``m`` rows). Where rows observe few of
many cells (planned-missingness designs, wide panels, new rows given to a fitted model)
that is far less than ``m^3``, and when every pattern takes this route the ``p x p``
precision is never formed: at ``p = 1,000`` with 50 cells observed per pattern, about
``2.5 * 10^6`` flops per pattern for the fills and variances instead of ``10^9`` for the
precision plus ``0.86 * 10^9`` for ``Lambda_MM``.

:func:`chunk_routes` chooses, chunk by chunk of patterns (all with the same ``m``), the
route that a cost model (flops at rates that grow with the blocks' sizes, gathers, a fixed
cost per pattern: :data:`PATTERN_SECONDS`) says is faster, counting the precision's own
``p^3`` where the caller would form it for this choice alone. The precision route wins
where rows miss fewer than about two thirds of their cells; the observed route beyond
(at ``p = 1,000`` with 950 cells missing, for the E-step's whole ``C_M``: 10 against 39 ms
per pattern; for filling, about 0.5 ms). The two routes give the same quantities up to
rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.linalg.blas as blas
import scipy.linalg.lapack as lapack

from imputer._gaussian.layout import Block, ChunkSpec, StandardData
from imputer._gaussian.linalg import Infeasible
from imputer._gaussian.patterns import Patterns

__all__ = [
    "GATHER_SECONDS",
    "PATTERN_SECONDS",
    "ROUTES",
    "ObservedChunk",
    "Route",
    "chunk_routes",
    "coef_pays",
    "fill_block",
    "layout_routes",
    "observed_chunk",
    "observed_columns",
    "precision_seconds",
]

Route = Literal["auto", "precision", "observed"]
#: The values of the ``method`` options that choose between the two routes.
ROUTES: tuple[str, ...] = ("auto", "precision", "observed")

#: The cost model of :func:`chunk_routes`, in seconds on one core (fitted to measurements
#: at p = 40 to 1,000, m / p = 0.5 to 0.95, on a 2-core EPYC, within a factor 1.5): the
#: observed route's fixed cost per pattern (its gathers and three LAPACK calls), ...
PATTERN_SECONDS = 3e-5
#: ... the time per number gathered from ``Sigma`` (its ``m^2 + m p_o + p_o^2`` numbers
#: per pattern; the precision route gathers ``m^2`` from ``Lambda``), and flop rates that
#: grow with the blocks' inner dimension (``p_o`` for this route, ``m`` for the
#: precision's blocks) up to 20 Gflop/s, 5 Gflop/s for a row's conditional mean
#: (``2 m p_o``) and 20 Gflop/s for the precision route's ``W Lambda`` (``2 p^2``), with
#: the rows' gathers (``2 p_o + m`` numbers against ``2 m``).
GATHER_SECONDS = 2e-9


@dataclass(frozen=True)
class ObservedChunk:
    """What the observed route computes for a chunk of ``g`` patterns with ``m`` missing cells.

    Attributes
    ----------
    obs : ndarray of intp, shape (g, p - m)
        Observed columns of each pattern, ascending.
    chol : ndarray, shape (g, p - m, p - m), or (0, p - m, p - m) with ``coef``
        ``L``, the lower Cholesky factor of ``Sigma_OO``, per pattern.
    a : ndarray, shape (g, p - m, m), or (0, p - m, m) with ``coef``
        ``A = L^{-1} Sigma_OM`` per pattern.
    coef : ndarray, shape (g, m, p - m), or None
        ``B = Sigma_MO Sigma_OO^{-1} = A' L^{-1}`` per pattern, when asked for (then
        instead of ``chol`` and ``a``): with it a row's conditional mean costs ``2 m p_o``
        flops, without it (``L^{-1} r_O``, then ``A'``) ``p_o^2`` more, so it pays where a
        pattern has more than ``m`` rows.
    cond : ndarray, shape (g, m, m), C order, or None
        ``C_M`` (None when only its diagonal was asked for).
    cond_diag : ndarray, shape (g, m)
        The diagonal of ``C_M``, the conditional variances.
    logdet_oo : ndarray, shape (g,)
        ``log|Sigma_OO|`` (0 for a pattern with nothing observed).
    """

    obs: np.ndarray
    chol: np.ndarray
    a: np.ndarray
    coef: np.ndarray | None
    cond: np.ndarray | None
    cond_diag: np.ndarray
    logdet_oo: np.ndarray


def observed_columns(miss: np.ndarray, p: int) -> np.ndarray:
    """The complement of each row of ``miss`` (shape (g, m)) in ``0..p-1``, ascending: shape (g, p - m)."""
    g, m = miss.shape
    observed = np.ones((g, p), dtype=bool)
    np.put_along_axis(observed, miss, False, axis=1)
    return np.nonzero(observed)[1].reshape(g, p - m)


def observed_chunk(sigma: np.ndarray, miss: np.ndarray, *, full: bool = True, coef: bool = False) -> ObservedChunk:
    """The observed route's ``B``, ``C_M`` and ``log|Sigma_OO|`` for a chunk of patterns.

    Parameters
    ----------
    sigma : ndarray, shape (p, p)
        Symmetric positive-definite covariance.
    miss : ndarray of intp, shape (g, m)
        Missing columns of each pattern (``m >= 1``).
    full : bool, default True
        Compute the whole ``C_M`` (the E-step sums it); otherwise only its diagonal
        (filling: ``2 m p_o`` flops for it instead of ``m^2 p_o``).
    coef : bool, default False
        Also compute ``B`` (``p_o^2 m`` flops per pattern: worth it for patterns with more
        than ``m`` rows).

    Returns
    -------
    ObservedChunk

    Raises
    ------
    Infeasible
        Some ``Sigma_OO`` not numerically positive definite.
    """
    p = sigma.shape[0]
    g, m = miss.shape
    obs = observed_columns(miss, p)
    po = p - m
    # either B (g m p_o numbers) or L and A (g p_o (p_o + m)): a chunk of many patterns with
    # few missing cells, as tall data has, then never holds g p_o^2 numbers
    coef_all = np.empty((g, m, po)) if coef else None
    chol_all = np.zeros((0 if coef else g, po, po))
    a_all = np.empty((0 if coef else g, po, m))
    cond = np.empty((g, m, m)) if full else None
    cond_diag = np.take(np.diagonal(sigma), miss)  # (g, m), made conditional below
    logdet_oo = np.zeros(g)
    potrf, trtrs, trsm = lapack.dpotrf, lapack.dtrtrs, blas.dtrsm
    for k in range(g):
        mk, ok = miss[k], obs[k]
        if po == 0:
            if cond is not None:
                cond[k] = sigma.take(mk, axis=0).take(mk, axis=1)
            continue
        # the observed rows of Sigma, then the columns: C-ordered Sigma_OO (symmetric, its
        # own Fortran-ordered transpose) and Sigma_OM, whose transpose is a Fortran-ordered
        # Sigma_MO (3x faster than np.ix_ and a Fortran copy)
        rows = sigma.take(ok, axis=0)
        chol, info = potrf(rows.take(ok, axis=1).T, lower=1, clean=1, overwrite_a=1)
        diag = np.diagonal(chol)
        if info != 0 or not np.all(diag > 0.0):
            raise Infeasible("observed block not positive definite")
        # Sigma_MO L^-T = A' in place (BLAS trsm from the right), A = L^-1 Sigma_OM
        a = trsm(1.0, chol, rows.take(mk, axis=1).T, side=1, lower=1, trans_a=1, overwrite_b=1).T
        if cond is not None:
            np.subtract(sigma.take(mk, axis=0).take(mk, axis=1), a.T @ a, out=cond[k])
            cond_diag[k] = np.diagonal(cond[k])
        else:
            cond_diag[k] -= np.einsum("ij,ij->j", a, a)
        if coef_all is None:
            chol_all[k] = chol
            a_all[k] = a
        else:
            bt, info = trtrs(chol, a, lower=1, trans=1)  # L^-T L^-1 Sigma_OM = Sigma_OO^-1 Sigma_OM
            if info != 0:
                raise Infeasible("observed block singular")
            coef_all[k] = bt.T
        logdet_oo[k] = 2.0 * float(np.sum(np.log(diag)))
    return ObservedChunk(obs=obs, chol=chol_all, a=a_all, coef=coef_all, cond=cond, cond_diag=cond_diag, logdet_oo=logdet_oo)


def coef_pays(counts: np.ndarray, miss: np.ndarray) -> bool:
    """Whether a chunk's ``B`` is worth forming (:func:`observed_chunk`'s ``coef``): more
    rows (``counts``, per pattern) than missing cells (``miss``, shape (g, m)) in all."""
    return int(counts.sum()) > miss.size


def fill_block(block: np.ndarray, blk: Block, oc: ObservedChunk, mu: np.ndarray) -> None:
    """Write the conditional means ``mu_M + B (z_O - mu_O)`` into the missing cells of a block.

    Parameters
    ----------
    block : ndarray, shape (r, p), C order, modified in place
        Rows of the chunk ``oc`` describes (whatever their missing cells hold).
    blk : Block
        Its indices (``blk.loc``: each row's pattern within the chunk).
    oc : ObservedChunk
    mu : ndarray, shape (p,)
    """
    r, p = block.shape
    flat = block.reshape(-1)
    po = oc.obs.shape[1]
    mean_m = np.take(mu, blk.cols)  # (r, m)
    if po == 0:
        flat[blk.flat] = mean_m
        return
    pos = np.take(oc.obs, blk.loc, axis=0)  # (r, p_o) observed columns of each row
    resid = np.take(mu, pos)
    np.subtract(np.take(flat, pos + (np.arange(r) * p)[:, None]), resid, out=resid)
    # rows grouped by pattern: one product per pattern present in the block
    order = np.argsort(blk.loc, kind="stable")
    cuts = np.flatnonzero(np.diff(blk.loc[order])) + 1
    fills = np.empty_like(mean_m)
    for rows in np.split(order, cuts):
        k = blk.loc[rows[0]]
        if oc.coef is not None:
            fills[rows] = resid[rows] @ oc.coef[k].T
        else:
            # L^-1 r_O for the pattern's rows (chol[k].T: a Fortran view of the upper L'),
            # then A' (L^-1 r_O) = Sigma_MO Sigma_OO^-1 r_O
            y, _ = lapack.dtrtrs(oc.chol[k].T, resid[rows].T, lower=0, trans=1)
            fills[rows] = (oc.a[k].T @ y).T
    fills += mean_m
    flat[blk.flat] = fills


def _observed_seconds(p: int, m: int, patterns: int, rows: int, full: bool = True) -> float:
    po = p - m
    flops = po**3 / 3.0 + 2.0 * po * po * m + (po * m * m if full else 2.0 * po * m)
    gathered = (m * m if full else m) + po * m + po * po
    per_pattern = PATTERN_SECONDS + GATHER_SECONDS * gathered + flops / min(2e10, 2e8 * max(po, 1))
    return patterns * per_pattern + rows * (2.0 * m * po / 5e9 + GATHER_SECONDS * (2 * po + m))


def _precision_seconds(p: int, m: int, patterns: int, rows: int) -> float:
    per_pattern = 2e-6 + 0.5 * GATHER_SECONDS * m * m + float(m) ** 3 / min(2e10, 5e7 * m)
    return patterns * per_pattern + rows * (2.0 * p * p / 2e10 + GATHER_SECONDS * 2 * m)


def precision_seconds(p: int) -> float:
    """The modelled time of the ``p x p`` precision (``potrf`` + ``potri``, one thread)."""
    return float(p) ** 3 / min(3.2e10, 6.5e7 * p)


def chunk_routes(
    patterns: Patterns,
    specs: tuple[ChunkSpec, ...] | list[ChunkSpec],
    blocks: tuple[Block, ...] | None,
    method: Route,
    *,
    precision_needed: bool,
    full: bool = True,
    skip_dense: bool = False,
) -> tuple[bool, ...]:
    """For each chunk, True where it takes the observed route.

    Parameters
    ----------
    patterns : Patterns
    specs : sequence of ChunkSpec
        The chunks (a layout's, with their row blocks, or made from the patterns alone).
    blocks : tuple of Block, optional
        The layout's row blocks (for the row counts; without them, each pattern's count).
    method : {"auto", "precision", "observed"}
        ``"precision"`` / ``"observed"``: every chunk that route; ``"auto"``: the faster
        by the cost model (module docstring).
    precision_needed : bool
        The caller forms the precision anyway (the E-step's objective needs it): its
        ``p^3`` then weighs on neither side. Otherwise it counts against the precision
        route, and every chunk takes the observed route when that is cheaper in all.
    full : bool, default True
        The caller needs the whole ``C_M`` (the E-step), not only its diagonal (filling).
    skip_dense : bool, default False
        The rows of frequent-pattern chunks are not completed (the E-step sums them per
        pattern): their rows cost nothing on either route.
    """
    if method != "auto":
        return (method == "observed",) * len(specs)
    p = patterns.n_cols
    costs = []
    for spec in specs:
        group = patterns.groups[spec.group]
        m, g = group.n_miss, spec.pat_stop - spec.pat_start
        if skip_dense and spec.dense:
            rows = 0
        elif blocks is not None and spec.block_stop > spec.block_start:
            rows = blocks[spec.block_stop - 1].stop - blocks[spec.block_start].start
        else:
            rows = int(group.counts[spec.pat_start : spec.pat_stop].sum())
        costs.append((_observed_seconds(p, m, g, rows, full), _precision_seconds(p, m, g, rows)))
    best = tuple(obs < prec for obs, prec in costs)
    if precision_needed or not specs:
        return best
    mixed = precision_seconds(p) * any(not b for b in best) + sum(min(c) for c in costs)
    all_observed = sum(c[0] for c in costs)
    return (True,) * len(specs) if all_observed <= mixed else best


def layout_routes(
    data: StandardData, method: Route, *, precision_needed: bool, full: bool = True, skip_dense: bool = False
) -> tuple[bool, ...]:
    """:func:`chunk_routes` for a layout's chunks, memoised on the layout."""
    key = ("routes", method, precision_needed, full, skip_dense)
    routes = data.memo.get(key)
    if routes is None:
        routes = chunk_routes(
            data.patterns, data.chunks, data.blocks, method, precision_needed=precision_needed, full=full, skip_dense=skip_dense
        )
        data.memo[key] = routes
    return routes
