r"""The Gaussian E-step: :class:`~imputer._gaussian.stats.SufficientStats` at ``(mu, Sigma)``.

Over the pattern chunks of the layout (:func:`~imputer._gaussian.chunks.iter_completed`),
each incomplete row is completed in the work array by its conditional mean (update
form) and enters ``s_1``, ``S_2`` (one product per run of row blocks); each pattern
enters ``C`` and ``H`` once, weighted by its row count (or by the sum of its rows'
``v_i``).

Cost per E-step: one ``p x p`` inverse (``p^3``, given by the caller or
:func:`~imputer._gaussian.linalg.precision`), ``m^3`` per distinct pattern with ``m``
missing cells (``C_M = (Lambda_MM)^{-1}`` and ``log|C_M|``), ``2 n p^2`` for the rows'
``W Lambda`` and ``n p^2`` for ``S_2``, and ``O(sum m^2 + p^2)`` to scatter the ``C_M``:
nothing of order ``p^2`` or ``p^3`` per row or per chunk, which matters on wide data
(``p`` in the hundreds or thousands, every row its own pattern). The complete rows enter through
their constant sums (unweighted) or row by row (weighted). Chunks of patterns that miss
most of their cells take the observed route instead (:mod:`imputer._gaussian.observed`,
chosen by :data:`ROUTE`: ``p_o^3 / 3 + 2 p_o^2 m + p_o m^2`` per pattern instead of ``m^3``);
the batched path below is then not used.

*Dense-pattern shortcut* (unweighted only). For a frequent pattern, with ``v`` a row with
0 in its missing cells, the completed row is affine in ``v``: ``zhat_M = a - K v`` with
``K = C_M Lambda_{M.}`` and ``a = C_M (Lambda mu)_M``. Over its ``c`` rows, with the
constant ``t = sum v`` and ``T = sum v v'`` (:class:`~imputer._gaussian.layout.DenseStats`),

.. math::

    \sum \hat z_M = c a - K t, \quad
    \sum \hat z_M v^\top = a t^\top - K T, \quad
    \sum \hat z_M \hat z_M^\top = c a a^\top - a (Kt)^\top - (Kt) a^\top + K T K^\top,

at cost ``O(m p^2)`` per pattern instead of ``O(p^2)`` per row; those rows are then not
completed in the work array. The statistics are the same up to rounding.

*Batched path* (:func:`small_plan`: few patterns or small ones, and a work array of at
most ``SMALL_MAX_ELEMENTS`` numbers; small ``p``, or wide data with few rows). There the
cost of an E-step is not flops but the numpy calls of the pattern loop (a few dozen per
chunk, and on wide data every row is a chunk of its own: its ``m`` is its group). All
``G`` patterns then go through one batch of ``m_max x m_max`` matrices: ``B_g`` is
``Lambda_MM`` padded with the identity, so that ``B_g^{-1}`` is ``C_M`` padded (zeroed
outside ``M x M``) and ``log|B_g| = log|Lambda_MM|`` (one batched Cholesky factorisation
and one batched inverse for all patterns, or LAPACK ``potrf``/``potri`` per pattern for
``m_max >= SWEEP_MAX_M``); the rows are completed from the mean, ``zhat_M = mu_M - C_M
(Lambda (w - mu))_M`` with the missing cells of ``w`` first set to ``mu_M`` (so that an
E-step is a function of ``(mu, Sigma)`` alone, bit for bit, whatever the work array held
from an earlier one: the accelerators compare objectives of revisited points), by one
product ``(W - mu) Lambda`` and one gathered row-wise product per missing cell, and the
statistics are a handful of products: about 30 numpy calls per E-step in
all, whatever the number of patterns.

No prior and no log-likelihood here: both are functions of the statistics
(:mod:`imputer._gaussian.objective`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.linalg.blas import dgemm

from imputer._gaussian.chunks import iter_completed
from imputer._gaussian.layout import DenseStats, StandardData
from imputer._gaussian.linalg import SWEEP_MAX_M, Infeasible, _potr_inverse, precision
from imputer._gaussian.observed import Route, layout_routes
from imputer._gaussian.stats import SufficientStats
from imputer._util import LOG_2PI

#: From this many columns the completed rows' cross-product is added to ``S_2`` in place
#: (BLAS ``gemm`` with ``beta = 1``): a fresh ``p x p`` product and the pass adding it cost
#: more than the product itself on wide data (46 against 5 ms at ``p = 2,000``, ``n = 10``).
_INPLACE_MIN_P = 512

__all__ = ["KEEP_POINT", "ChunkedPoint", "SmallPlan", "SmallPoint", "batched_plan", "estep", "estep_diagonals", "small_conditionals", "small_fill", "small_plan"]

#: The batched E-step (module docstring) is used up to this many numbers in its padded
#: pattern blocks ``G m_max^2``, its gathered cells ``(sum m) m_max`` and the work array
#: (about 2 MB each, in cache: beyond, e.g. n=100 p=300, the chunk loop's per-chunk
#: overhead is small next to its arithmetic, and its chunks stay in cache) ...
SMALL_MAX_ELEMENTS = 1 << 18
#: ... and, for ``m_max < SWEEP_MAX_M`` (batched padded inverses; larger blocks are
#: inverted unpadded, by LAPACK), this many flops ``G m_max^3`` (or 4x those of the
#: unpadded ones). (Tests switch the batched path off through this flag, to compare it
#: with the general one.)
SMALL_PATH = True
#: How the pattern blocks are computed (:mod:`imputer._gaussian.observed`): ``"auto"``
#: chooses per chunk by flop count (tests force either route through this flag).
ROUTE: Route = "auto"
_SMALL_MAX_FLOPS = 1 << 24


@dataclass(frozen=True, eq=False)
class SmallPlan:
    """Constant set-up of the batched E-step (module docstring), ``G`` patterns, ``m_max`` cells.

    Attributes
    ----------
    block_pos : ndarray of intp, shape (G, m_max, m_max)
        Flat position in the ``p x p`` precision of each entry of the padded ``Lambda_MM``
        (padding: position 0, masked).
    both : ndarray of bool, shape (G, m_max, m_max)
        The entries of ``M x M`` (not padding).
    eye : ndarray, shape (m_max, m_max)
    counts : ndarray, shape (G,)
        Rows per pattern (float).
    n_miss : ndarray, shape (G,)
        ``m`` per pattern (float).
    miss_flat : ndarray of intp
        Flat positions of the missing cells in the work array (row by row).
    miss_col : ndarray of intp, same length
        Their columns.
    cell_cond : ndarray of intp, same length
        Per missing cell, the row ``g m_max + s`` of the ``(G m_max, m_max)`` stack of the
        padded ``C_M`` (``g`` its row's pattern, ``s`` its slot in the pattern).
    cell_y : ndarray of intp, shape (n_cells, m_max)
        Per missing cell of row ``i``, the flat positions in the ``(n_inc, p)`` array
        ``(W - mu) Lambda`` of row ``i``'s missing columns (padding: column 0).
    group_start : tuple of int
        First pattern of each group among the ``G``.
    """

    block_pos: np.ndarray
    both: np.ndarray
    eye: np.ndarray
    counts: np.ndarray
    n_miss: np.ndarray
    miss_flat: np.ndarray
    miss_col: np.ndarray
    cell_cond: np.ndarray
    cell_y: np.ndarray
    group_start: tuple[int, ...]


class SmallPoint(NamedTuple):
    """The batched E-step's last point (``data.memo["small_last"]``)."""

    mean: np.ndarray
    cov: np.ndarray
    prec: np.ndarray
    #: every pattern's ``C_M``, padded (:func:`small_conditionals`)
    cond: np.ndarray
    #: the missing cells' conditional means, row by row (``plan.miss_flat``): a copy, since
    #: other passes (draws, the final completion) also write the work array
    fills: np.ndarray

    def conditionals(self, plan: SmallPlan) -> np.ndarray:
        """``cond`` (the plan's padded ``C_M`` stack, shape (G, m_max, m_max))."""
        return self.cond


class ChunkedPoint(NamedTuple):
    """The chunked E-step's last point (``data.memo["small_last"]``), kept where the step on
    the fills asked for it (:data:`KEEP_POINT`): its ``C_M`` blocks as the chunks made them
    (references, no copies: on wide data the padded stack is tens of MB, and the step on
    the fills asks for it at a few of the driver's points only)."""

    mean: np.ndarray
    cov: np.ndarray
    prec: np.ndarray
    #: per chunk, its first pattern among the plan's ``G`` and its ``C_M`` stack, shape (g, m, m)
    parts: tuple[tuple[int, np.ndarray], ...]
    fills: np.ndarray

    def conditionals(self, plan: SmallPlan) -> np.ndarray:
        """The padded ``C_M`` stack of ``plan`` (shape (G, m_max, m_max)), as :func:`small_conditionals` gives it."""
        m_max = plan.eye.shape[0]
        cond = np.zeros((plan.n_miss.size, m_max, m_max))
        for first, blocks in self.parts:
            g, m, _ = blocks.shape
            cond[first : first + g, :m, :m] = blocks
        return cond


#: ``data.memo`` key of the batched layout (:class:`SmallPlan`) whose point the chunked
#: E-step keeps as a :class:`ChunkedPoint` (set by the step on the fills,
#: :func:`imputer.mvn._fillnewton.fill_plan`; without it the chunked E-step keeps nothing).
KEEP_POINT = "keep_point"


def small_plan(data: StandardData) -> SmallPlan | None:
    """The :class:`SmallPlan` of a layout (built once, kept in ``data.memo``), or None where
    the batched E-step does not apply (``SMALL_MAX_ELEMENTS``, ``_SMALL_MAX_FLOPS``), nothing
    is missing or the incomplete rows are not in the work array (a pattern table's layout,
    summed per pattern: :func:`imputer.dask._patterns.table_layout`)."""
    memo = data.memo
    if "small" in memo:
        return memo["small"]
    memo["small"] = plan = _small_plan(data)
    return plan


def batched_plan(data: StandardData, max_elements: float) -> SmallPlan | None:
    """A :class:`SmallPlan` whatever the E-step's own limits, up to ``max_elements`` numbers in
    its padded blocks and gathered cells (the step on the fills, :mod:`imputer.mvn._fillnewton`,
    uses the batched layout where the E-step itself goes by chunks); kept in ``data.memo``.
    None where the incomplete rows are not in the work array or the blocks are larger."""
    plan = small_plan(data)
    if plan is not None:
        return plan
    key = ("batched", max_elements)
    if key not in data.memo:
        data.memo[key] = _small_plan(data, limits=False, max_elements=max_elements)
    return data.memo[key]


def _small_plan(data: StandardData, *, limits: bool = True, max_elements: float = 0.0) -> SmallPlan | None:
    p = data.p
    groups = data.patterns.groups
    n_inc = data.work.shape[0]
    if not groups or not sum(g.n_rows for g in groups) == n_inc == int(sum(g.counts.sum() for g in groups)):
        return None
    n_pat = sum(g.n_patterns for g in groups)
    m_max = max(g.n_miss for g in groups)
    n_cells = sum(g.n_rows * g.n_miss for g in groups)
    flops = sum(g.n_patterns * g.n_miss**3 for g in groups)
    if not limits:
        if max(n_pat * m_max, n_cells) * m_max > max_elements:
            return None
    elif (
        max(n_pat * m_max, n_cells) * m_max > SMALL_MAX_ELEMENTS
        or n_inc * p > SMALL_MAX_ELEMENTS
        or (m_max < SWEEP_MAX_M and n_pat * m_max**3 > max(_SMALL_MAX_FLOPS, 4 * flops))
    ):
        return None
    miss_pad = np.zeros((n_pat, m_max), dtype=np.intp)
    valid = np.zeros((n_pat, m_max), dtype=bool)
    pattern = np.empty(n_inc, dtype=np.intp)
    flats, slots, starts = [], [], []
    first = 0
    for g in groups:
        starts.append(first)
        miss_pad[first : first + g.n_patterns, : g.n_miss] = g.miss
        valid[first : first + g.n_patterns, : g.n_miss] = True
        pattern[g.offset : g.offset + g.n_rows] = first + g.row_pattern
        rows = np.arange(g.offset, g.offset + g.n_rows, dtype=np.intp)[:, None]
        flats.append((rows * p + g.miss[g.row_pattern]).reshape(-1))
        slots.append(np.broadcast_to(np.arange(g.n_miss), (g.n_rows, g.n_miss)).reshape(-1))
        first += g.n_patterns
    miss_flat = np.concatenate(flats)
    cell_row = miss_flat // p
    cell_pat = pattern[cell_row]
    return SmallPlan(
        block_pos=miss_pad[:, :, None] * p + miss_pad[:, None, :],
        both=valid[:, :, None] & valid[:, None, :],
        eye=np.eye(m_max),
        counts=np.concatenate([g.counts for g in groups]).astype(float),
        n_miss=valid.sum(axis=1).astype(float),
        miss_flat=miss_flat,
        miss_col=miss_flat % p,
        cell_cond=cell_pat * m_max + np.concatenate(slots),
        cell_y=cell_row[:, None] * p + miss_pad[cell_pat],
        group_start=tuple(starts),
    )


class _Scatter:
    """Sums of values at flat positions of a length-``size`` array (the embedded ``C_M``).

    Large blocks (``m >= SWEEP_MAX_M``, LAPACK-sized, in chunks of a few patterns) go in
    by ``np.add.at`` (a few ns per value, no ``O(size)`` term; measured 10x faster than a
    bincount per chunk at p = 300); small ones are batched into one ``np.bincount`` per
    ``size`` values, which keeps the total at ``O(sum g m^2 + size)``.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.out = np.zeros(size)
        self._pos: list[np.ndarray] = []
        self._val: list[np.ndarray] = []
        self._pending = 0

    def add(self, pos: np.ndarray, val: np.ndarray) -> None:
        """Add ``val`` at ``pos`` (same shapes ``(m, m, g)``, batch-last): large blocks at once,
        small ones batched."""
        if pos.shape[0] >= SWEEP_MAX_M:
            self.add_large(pos, val)
            return
        self._pos.append(pos.reshape(-1))
        self._val.append(val.reshape(-1))
        self._pending += pos.size
        if self._pending >= self.size:
            self._flush()

    def add_large(self, pos: np.ndarray, val: np.ndarray) -> None:
        """Add ``val`` at ``pos`` (same shapes, any order) at once: best given C-contiguous,
        e.g. LAPACK-sized blocks pattern-major ``(g, m, m)`` (no copies)."""
        np.add.at(self.out, pos.reshape(-1), val.reshape(-1))

    def _flush(self) -> None:
        if self._pos:
            pos = np.concatenate(self._pos) if len(self._pos) > 1 else self._pos[0]
            val = np.concatenate(self._val) if len(self._val) > 1 else self._val[0]
            self.out += np.bincount(pos, weights=val, minlength=self.size)
            self._pos, self._val, self._pending = [], [], 0

    def total(self) -> np.ndarray:
        self._flush()
        return self.out


def _dense_chunk(
    cond: np.ndarray,
    miss: np.ndarray,
    prec: np.ndarray,
    prec_mu: np.ndarray,
    counts: np.ndarray,
    stats: DenseStats,
    pa: int,
    pb: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pattern-level sums over the rows of a chunk of frequent patterns (module docstring).

    ``cond`` holds ``C_M`` (shape ``(g, m, m)``), ``miss`` the missing columns and
    ``counts`` the row counts ``c`` of patterns ``pa:pb`` of the group whose frequent
    patterns ``stats`` describes. Returns ``(u, X, Y)``, shapes ``(g, m)``, ``(g, m, p)``,
    ``(g, m, m)``: ``sum zhat_M``, ``sum zhat_M v'``, ``sum zhat_M zhat_M'`` per pattern.
    """
    t, T = stats.t[pa:pb], stats.T[pa:pb]
    K = cond @ prec[miss]
    a = np.einsum("gjk,gk->gj", cond, prec_mu[miss])
    Kt = np.einsum("gjq,gq->gj", K, t)
    KT = K @ T
    u = counts[:, None] * a - Kt
    X = a[:, :, None] * t[:, None, :] - KT
    aK = a[:, :, None] * Kt[:, None, :]
    Y = counts[:, None, None] * a[:, :, None] * a[:, None, :] - aK - aK.transpose(0, 2, 1) + KT @ K.transpose(0, 2, 1)
    return u, X, Y


def estep(
    data: StandardData,
    mean: np.ndarray,
    cov: np.ndarray,
    weights: np.ndarray | None = None,
    cov_weights: np.ndarray | None = None,
    *,
    shortcut: bool = True,
    prec: tuple[np.ndarray, float] | None = None,
) -> SufficientStats:
    """E-step statistics at ``(mean, cov)``; completes the rows in ``data.work``.

    Parameters
    ----------
    data : StandardData
        The layout; its work array receives the conditional means (except, with the
        shortcut, the rows of frequent patterns).
    mean : ndarray, shape (p,)
    cov : ndarray, shape (p, p)
    weights : ndarray, shape (n,), optional
        ``w_i`` on the mean-product terms (original row order); default 1. Weighted
        statistics need the layout's complete rows.
    cov_weights : ndarray, shape (n,), optional
        ``v_i`` on the conditional-covariance terms; default ``weights``.
    shortcut : bool, default True
        Sum frequent patterns per pattern (only when unweighted).
    prec : (ndarray (p, p), float), optional
        ``(Sigma^-1, log|Sigma|)`` if already computed.

    Returns
    -------
    SufficientStats

    Raises
    ------
    Infeasible
        ``cov`` (or a block of its inverse) not numerically positive definite.
    """
    return _estep(data, mean, cov, weights, cov_weights, shortcut, prec, None)


def estep_diagonals(
    data: StandardData,
    mean: np.ndarray,
    cov: np.ndarray,
    *,
    shortcut: bool = True,
    prec: tuple[np.ndarray, float] | None = None,
    complete_all: bool = False,
) -> tuple[SufficientStats, tuple[np.ndarray, ...]]:
    """:func:`estep` (unweighted) and, per pattern group, the ``(G, m)`` diagonals of ``C_M``.

    ``complete_all``: with the shortcut, still complete the rows of frequent patterns in
    the work array (their statistics stay the pattern-level sums, so that the statistics
    are exactly those of :func:`estep` with the same ``shortcut``).
    """
    diags: list[list[np.ndarray]] = [[] for _ in data.patterns.groups]
    stats = _estep(data, mean, cov, None, None, shortcut, prec, diags, complete_all)
    return stats, tuple(np.concatenate(d) for d in diags)


def _estep(
    data: StandardData,
    mean: np.ndarray,
    cov: np.ndarray,
    weights: np.ndarray | None,
    cov_weights: np.ndarray | None,
    shortcut: bool,
    prec_pair: tuple[np.ndarray, float] | None,
    diags: list[list[np.ndarray]] | None,
    complete_all: bool = False,
) -> SufficientStats:
    p = data.p
    prec, logdet = prec_pair or precision(cov)
    # unweighted, the rows of frequent patterns are summed per pattern (and, unless
    # complete_all, never completed)
    dense = shortcut and weights is None and bool(data.dense)
    routes = layout_routes(data, ROUTE, precision_needed=True, skip_dense=dense and not complete_all)
    observed = any(routes)
    plan = small_plan(data) if SMALL_PATH and not observed else None
    if plan is not None:
        stats, cond = _estep_small(data, plan, mean, prec, weights, cov_weights, diags)
        # what the step on the fills (imputer.mvn._fillnewton) needs at this point, kept
        # until the next E-step (references: no copies)
        data.memo["small_last"] = SmallPoint(mean, cov, prec, cond, data.work.reshape(-1).take(plan.miss_flat))
        return stats
    prec_mu = prec @ mean
    groups = data.patterns.groups
    weighted = weights is not None
    if weighted:
        w = np.asarray(weights, dtype=float)
        v = w if cov_weights is None else np.asarray(cov_weights, dtype=float)
        inc = data.patterns.incomplete_rows
        w_inc = w[inc]
        v_inc = w_inc if cov_weights is None else v[inc]
        # per pattern, the sum of its rows' v (rows of a group are in work order)
        v_pat = [
            np.bincount(g.row_pattern, weights=v_inc[g.offset : g.offset + g.n_rows], minlength=g.n_patterns)
            for g in groups
        ]
        zc = data.complete_rows()
        wc = w[data.patterns.complete_rows]
        s1 = wc @ zc
        s2 = (zc.T * wc) @ zc
        total_w, total_v = float(w.sum()), float(v.sum())
    else:
        s1 = data.s1_complete.copy()
        s2 = data.s2_complete.copy()
        total_w = total_v = float(data.n)
    entropy = 0.0
    cond_sum = _Scatter(p * p)
    keep = data.memo.get(KEEP_POINT) if not weighted and not dense and not observed else None
    parts: list[tuple[int, np.ndarray]] = []
    if dense:  # the per-pattern sums' accumulators (two p x p arrays: not made otherwise)
        s1_flat, s2_flat, y_flat = np.zeros(p), np.zeros(p * p), np.zeros(p * p)
    cols_p = np.arange(p)
    work, blocks = data.work, data.blocks

    def add_rows(first: int, stop: int) -> None:
        # the completed rows of a run of blocks enter s1, S2 in one product
        nonlocal s1, s2
        if dense and blocks[first].dense:  # completed for the caller, summed per pattern
            return
        lo, hi = blocks[first].start, blocks[stop - 1].stop
        rows = work[lo:hi]
        if weighted:
            wb = w_inc[lo:hi]
            s1 += wb @ rows
            s2 += (rows.T * wb) @ rows
        elif p >= _INPLACE_MIN_P:
            s1 += np.ones(hi - lo) @ rows
            # s2 <- rows' rows + s2 in place (the C-ordered s2 is the Fortran-ordered s2',
            # and rows' rows is symmetric): no p x p temporary, one pass fewer
            dgemm(1.0, rows, rows, beta=1.0, c=s2.T, trans_a=1, overwrite_c=1)
        else:
            s1 += np.ones(hi - lo) @ rows
            s2 += rows.T @ rows

    for ch in iter_completed(
        data,
        prec,
        prec_mu,
        skip_dense=dense and not complete_all,
        rows_done=add_rows,
        routes=routes if observed else None,
        sigma=(cov, logdet),
        mean=mean,
    ):
        spec = ch.spec
        cw = v_pat[spec.group][spec.pat_start : spec.pat_stop] if weighted else ch.counts
        entropy += float(cw @ (ch.n_miss * (LOG_2PI + 1.0) + ch.logdet))
        if diags is not None:
            diags[spec.group].append(np.diagonal(ch.cond_t).copy())  # (g, m)
        if dense and spec.dense:
            dstats = data.dense[spec.group]
            u, X, Y = _dense_chunk(ch.cond, ch.miss, prec, prec_mu, cw, dstats, spec.pat_start, spec.pat_stop)
            s1_flat += np.bincount(ch.miss.reshape(-1), weights=u.reshape(-1), minlength=p)
            pos = ch.miss[:, :, None] * p + cols_p
            s2_flat += np.bincount(pos.reshape(-1), weights=X.reshape(-1), minlength=p * p)
            y_flat += np.bincount(ch.cells.reshape(-1), weights=Y.transpose(1, 2, 0).reshape(-1), minlength=p * p)
        if ch.n_miss >= SWEEP_MAX_M:  # LAPACK-sized blocks, pattern-major (C order)
            cond_sum.add_large(ch.cells.transpose(2, 0, 1), ch.cond * cw[:, None, None])
        else:
            cond_sum.add(ch.cells, ch.cond_t * cw)
        if keep is not None:
            parts.append((keep.group_start[spec.group] + spec.pat_start, ch.cond))
    if keep is not None:
        data.memo["small_last"] = ChunkedPoint(mean, cov, prec, tuple(parts), data.work.reshape(-1).take(keep.miss_flat))
    if dense:
        cross = s2_flat.reshape(p, p)
        s1 += data.s1_dense + s1_flat
        s2 += data.s2_dense + cross + cross.T + y_flat.reshape(p, p)
    return SufficientStats(
        weight=total_w,
        cov_weight=total_v,
        s1=s1,
        s2=s2,
        cond=cond_sum.total().reshape(p, p),
        entropy=0.5 * entropy,
    )



def small_conditionals(data: StandardData, plan: SmallPlan, prec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pattern's ``C_M = (Lambda_MM)^-1``, padded, and ``log|C_M|`` (the batched path).

    Parameters
    ----------
    data : StandardData
    plan : SmallPlan
        ``small_plan(data)``.
    prec : ndarray, shape (p, p)
        ``Lambda``.

    Returns
    -------
    cond : ndarray, shape (G, m_max, m_max)
        ``C_M`` of each pattern, zero outside ``M x M``.
    logdet : ndarray, shape (G,)
        ``log|C_M|``.

    Raises
    ------
    Infeasible
        Where a ``Lambda_MM`` is not positive definite.
    """
    g, m_max = plan.n_miss.size, plan.eye.shape[0]
    if m_max >= SWEEP_MAX_M:
        # LAPACK potrf + potri per pattern, group by group (unpadded: m^3 flops, a third of
        # a batched LU inverse's; exactly symmetric), log-determinants from the factors
        cond = np.zeros((g, m_max, m_max))
        logdet = np.empty(g)
        flat_prec = prec.reshape(-1)
        for group, start in zip(data.patterns.groups, plan.group_start):
            stop, m = start + group.n_patterns, group.n_miss
            inv, ld = _potr_inverse(flat_prec.take(plan.block_pos[start:stop, :m, :m]))
            cond[start:stop, :m, :m] = inv
            np.negative(ld, out=logdet[start:stop])
        return cond, logdet
    b = np.where(plan.both, prec.reshape(-1).take(plan.block_pos), plan.eye)  # Lambda_MM padded
    try:
        chol = np.linalg.cholesky(b)
    except np.linalg.LinAlgError:
        raise Infeasible("matrix not positive definite") from None
    piv = np.diagonal(chol, axis1=1, axis2=2)
    if not piv.min() > 0.0:
        raise Infeasible("matrix not positive definite")
    logdet = -2.0 * np.log(piv).sum(axis=1)  # log|C_M|
    cond = np.linalg.inv(b)
    cond += cond.transpose(0, 2, 1)
    cond *= 0.5
    cond *= plan.both  # exactly C_M padded with zeros
    return cond, logdet


def small_fill(plan: SmallPlan, work: np.ndarray, mean: np.ndarray, prec: np.ndarray, cond: np.ndarray) -> None:
    """Overwrite the missing cells of ``work`` (shape (n_inc, p), C order) with their conditional means.

    From the mean (module docstring): ``w_M = mu_M``, then per missing cell ``(i, j)``,
    ``zhat_ij = mu_j - (row j of C_M) . (Lambda (w_i - mu))_M``; ``cond`` is
    :func:`small_conditionals`' stack.
    """
    g, m_max = plan.n_miss.size, plan.eye.shape[0]
    work_flat = work.reshape(-1)
    np.put(work_flat, plan.miss_flat, mean.take(plan.miss_col))
    y = (work - mean) @ prec
    zm = np.einsum("ij,ij->i", cond.reshape(g * m_max, m_max).take(plan.cell_cond, axis=0), y.take(plan.cell_y))
    np.subtract(work_flat.take(plan.miss_flat), zm, out=zm)
    np.put(work_flat, plan.miss_flat, zm)


def _estep_small(
    data: StandardData,
    plan: SmallPlan,
    mean: np.ndarray,
    prec: np.ndarray,
    weights: np.ndarray | None,
    cov_weights: np.ndarray | None,
    diags: list[list[np.ndarray]] | None,
) -> tuple[SufficientStats, np.ndarray]:
    """:func:`_estep` on the batched path: all patterns at once (module docstring); also
    the padded ``C_M`` stack."""
    p = data.p
    g = plan.n_miss.size
    cond, logdet = small_conditionals(data, plan, prec)
    zhat = data.work
    small_fill(plan, zhat, mean, prec, cond)
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        v = w if cov_weights is None else np.asarray(cov_weights, dtype=float)
        inc = data.patterns.incomplete_rows
        w_inc = w[inc]
        pattern = np.repeat(np.arange(g), plan.counts.astype(np.intp))  # rows are sorted by pattern
        cw = np.bincount(pattern, weights=v[inc], minlength=g)
        zc = data.complete_rows()
        wc = w[data.patterns.complete_rows]
        s1 = wc @ zc + w_inc @ zhat
        s2 = (zc.T * wc) @ zc + (zhat.T * w_inc) @ zhat
        total_w, total_v = float(w.sum()), float(v.sum())
    else:
        cw = plan.counts
        s1 = data.s1_complete + zhat.sum(axis=0)
        s2 = data.s2_complete + zhat.T @ zhat
        total_w = total_v = float(data.n)
    if diags is not None:
        cdiag = np.diagonal(cond, axis1=1, axis2=2)
        for gi, (group, start) in enumerate(zip(data.patterns.groups, plan.group_start)):
            diags[gi].append(cdiag[start : start + group.n_patterns, : group.n_miss].copy())
    scaled = cond * cw[:, None, None]
    stats = SufficientStats(
        weight=total_w,
        cov_weight=total_v,
        s1=s1,
        s2=s2,
        cond=np.bincount(plan.block_pos.reshape(-1), weights=scaled.reshape(-1), minlength=p * p).reshape(p, p),
        entropy=0.5 * float(cw @ (plan.n_miss * (LOG_2PI + 1.0) + logdet)),
    )
    return stats, cond
