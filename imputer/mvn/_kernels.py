r"""EM kernels for the multivariate normal with missing values (private; clean input assumed).

Model: rows ``z_i ~ N_p(mu, Sigma)`` i.i.d., cells missing at random. For a row with
missing set ``M`` and observed set ``O``, with precision ``Lambda = Sigma^{-1}``,

.. math::

    z_M \mid z_O \sim N\big(\mu_M - C_M \Lambda_{MO}(z_O - \mu_O),\; C_M\big),
    \qquad C_M = (\Lambda_{MM})^{-1}.

Only ``m x m`` blocks are inverted per pattern (``m`` = number of missing cells, usually
much smaller than the number observed), by a sweep vectorised over the patterns of a
group. The patterns of a group are processed in *chunks* of a few hundred to a few
thousand (about 512 kB of ``m x m`` blocks), each followed at once by the rows of its
patterns: the sweep and the row updates then work in cache, and only one chunk's
conditional covariances exist at a time.

Row-level storage: one work array holding the incomplete rows (observed cells fixed,
missing cells holding the conditional means of the previous E-step, 0 before the
first), plus precomputed flat indices of the missing cells. The conditional mean is
computed in *update form* from whatever ``w_M`` the missing cells hold: with
``y = Lambda (w - mu)``, ``y_M = Lambda_{MO}(z_O - mu_O) + Lambda_{MM}(w_M - mu_M)``, so

.. math::

    \hat z_M = w_M - C_M y_M = \mu_M - C_M \Lambda_{MO}(z_O - \mu_O)

exactly, for any ``w_M``. Per block of rows this is one dense ``p x p`` by ``p x r``
product (``Lambda w``; ``(Lambda mu)_M`` is gathered), one ``m x m`` product per row and
one gather/scatter of the missing cells -- about the cost of the cross-product itself.
The complete rows only enter through their sum and cross-product, computed once.

Frequent patterns (many rows each, :func:`dense_pattern_counts`) are summed at the
pattern level inside the EM map: with ``v`` a row with 0 in its missing cells, the
completed row is affine in ``v``, ``zhat_M = a - K v`` with ``K = C_M Lambda_{M.}`` and
``a = C_M (Lambda mu)_M``, so a pattern's contribution to the sums below needs only the
constant ``t = sum v`` and ``T = sum v v'`` over its rows (:func:`_dense_chunk`): cost
``O(m p^2)`` per pattern instead of ``O(p^2)`` per row. Its rows are completed only by
the E-step that fills the work array (``estep(..., rows=True)``).

E-step statistics at ``theta = (mu, Sigma)``, with ``zhat_i`` the row completed by its
conditional mean:

.. math::

    s = \sum_i (\hat z_i - \mu), \qquad
    A = \sum_i (\hat z_i - \mu)(\hat z_i - \mu)^\top + \sum_i C_{M_i} \text{ (embedded)}.

M-step (posterior mode under the ridge prior, flat prior on ``mu``):
``mu' = mu + s/n``, ``Sigma' = (A - n (s/n)(s/n)^T + lambda D) / (n + lambda)``.

Observed-data log-likelihood from the same quantities, by the identity
``l(theta) = Q(theta | theta) + H(theta)`` (expected complete-data log-likelihood plus
the entropy of the missing cells given the observed ones):

.. math::

    \ell(\theta) = -\tfrac12\big[n p \log 2\pi + n \log|\Sigma| + \operatorname{tr}(\Lambda A)\big]
      + \tfrac12 \sum_i \big[m_i (\log 2\pi + 1) + \log|C_{M_i}|\big],

which equals ``sum_i log N(z_{i,O}; mu_O, Sigma_OO)`` exactly (Schur complement:
``log|Sigma| = log|Sigma_OO| + log|C_M|``). The objective EM increases is
``l(theta) - (lambda/2) [log|Sigma| + tr(Lambda D)]`` (log-posterior up to a constant).
Here everything is in the engine's standardised units, where ``D = I``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from imputer.mvn._patterns import PatternGroup, Patterns

__all__ = [
    "Infeasible",
    "StandardData",
    "Block",
    "DenseStats",
    "EStep",
    "block_bounds",
    "chunk_conditional",
    "conditional_blocks",
    "dense_pattern_counts",
    "dense_statistics",
    "pattern_chunks",
    "estep",
    "mstep",
    "precision",
    "spd_inverse_batch",
    "prepare_blocks",
    "update_block",
]

LOG_2PI = float(np.log(2.0 * np.pi))
# rows per block in the row-level pass: about 2 MB of float64 per temporary
_BLOCK_ELEMENTS = 1 << 18
# fewest rows of a pattern treated at the pattern level (see dense_pattern_counts)
_DENSE_MIN_ROWS = 8
# patterns per chunk in the pattern-level pass: about 512 kB of m x m blocks (measured:
# 2-5x faster than whole groups, whose sweep runs from memory instead of cache)
_CHUNK_ELEMENTS = 1 << 16
# pattern blocks of this size or larger are inverted by LAPACK instead of the sweep
# (chunked, the sweep is faster up to m ~ 30 and level with LAPACK to m ~ 45)
_SWEEP_MAX_M = 32


class Infeasible(Exception):
    """The parameters are not a valid normal (covariance not numerically positive definite)."""


@dataclass(frozen=True)
class Block:
    """A run of incomplete rows of one pattern chunk of a group, with its missing-cell indices.

    Attributes
    ----------
    group : int
        Index of the pattern group (all rows have ``m`` missing cells).
    pat_start, pat_stop : int
        The pattern chunk: patterns ``pat_start:pat_stop`` of the group, whose conditional
        covariances are computed together. Consecutive blocks may share a chunk.
    start, stop : int
        Rows ``start:stop`` of the work array.
    loc : ndarray of intp, shape (r,)
        Pattern of each row, relative to ``pat_start``.
    flat : ndarray of int32 (intp for huge blocks), shape (r, m)
        Flat positions of the missing cells in the C-ordered ``(r, p)`` block.
    flat_t : ndarray of int32 (intp for huge blocks), shape (r, m)
        Flat positions of the missing cells in the C-ordered transposed ``(p, r)`` block.
    cols : ndarray of int16 (int32 for p >= 2**15), shape (r, m)
        Missing columns of each row.
    dense : bool
        The chunk's patterns are frequent ones, with :class:`DenseStats`.
    """

    group: int
    pat_start: int
    pat_stop: int
    start: int
    stop: int
    loc: np.ndarray
    flat: np.ndarray
    flat_t: np.ndarray
    cols: np.ndarray
    dense: bool = False


@dataclass(frozen=True)
class DenseStats:
    """Observed-part sums of the rows of a group's frequent patterns (constant over EM).

    With ``v`` a row with its missing cells set to 0:

    Attributes
    ----------
    t : ndarray, shape (D, p)
        ``t_g = sum v`` over the rows of pattern ``g``.
    T : ndarray, shape (D, p, p)
        ``T_g = sum v v'`` over the rows of pattern ``g`` (zero in the missing rows and
        columns).
    """

    t: np.ndarray
    T: np.ndarray

    @property
    def n_patterns(self) -> int:
        return int(self.t.shape[0])


@dataclass(frozen=True)
class StandardData:
    """Data prepared for EM, in standardised units.

    Attributes
    ----------
    patterns : Patterns
        Missingness patterns of the rows.
    work : ndarray, shape (n_inc, p), C order -- mutable
        Incomplete rows in stacked (group, pattern) order; each E-step overwrites the
        missing cells with conditional means at its parameters.
    blocks : tuple of Block
        Row blocks of ``work``.
    s1_complete : ndarray, shape (p,)
        Sum of the complete rows.
    s2_complete : ndarray, shape (p, p)
        Sum of outer products of the complete rows.
    dense : tuple of DenseStats
        Per pattern group, the observed-part statistics of its frequent patterns (the
        first ``n_patterns`` of the group), which the EM-map E-step treats at the
        pattern level (see :func:`estep`). Empty when no pattern is frequent enough.
    s1_dense, s2_dense : ndarray, shapes (p,), (p, p)
        ``sum t`` and ``sum T`` over all frequent patterns.
    """

    patterns: Patterns
    work: np.ndarray
    blocks: tuple[Block, ...]
    s1_complete: np.ndarray
    s2_complete: np.ndarray
    dense: tuple[DenseStats, ...] = ()
    s1_dense: np.ndarray | None = None
    s2_dense: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.patterns.n_rows

    @property
    def p(self) -> int:
        return self.patterns.n_cols

    @property
    def n_complete(self) -> int:
        return int(self.patterns.complete_rows.size)


@dataclass(frozen=True)
class EStep:
    """Result of one E-step at ``(mu, Sigma)``.

    Attributes
    ----------
    loglik : float
        Observed-data log-likelihood at ``(mu, Sigma)``.
    objective : float
        ``loglik`` minus the ridge penalty (equal to ``loglik`` when ``ridge = 0``).
    dsum : ndarray, shape (p,)
        ``sum_i (zhat_i - mu)``.
    scatter : ndarray, shape (p, p)
        ``A``, the expected scatter about ``mu`` (conditional covariances included).
    cond_diag : tuple of ndarray, one (G, m) per pattern group
        Diagonals of the conditional covariances ``C_M`` (standardised units).
    """

    loglik: float
    objective: float
    dsum: np.ndarray
    scatter: np.ndarray
    cond_diag: tuple[np.ndarray, ...] = ()


def block_bounds(n_rows: int, p: int) -> list[tuple[int, int]]:
    """Split ``range(n_rows)`` into blocks of about ``_BLOCK_ELEMENTS / p`` rows."""
    size = max(256, _BLOCK_ELEMENTS // max(p, 1))
    return [(a, min(a + size, n_rows)) for a in range(0, n_rows, size)]


def pattern_chunks(n_patterns: int, m: int) -> list[tuple[int, int]]:
    """Split the ``n_patterns`` patterns of a group into chunks of about ``_CHUNK_ELEMENTS / m^2``."""
    size = max(32, _CHUNK_ELEMENTS // (m * m))
    return [(a, min(a + size, n_patterns)) for a in range(0, n_patterns, size)]


def dense_pattern_counts(patterns: Patterns) -> tuple[int, ...]:
    """How many leading (most frequent) patterns of each group the E-step treats per pattern.

    A pattern qualifies with at least ``max(_DENSE_MIN_ROWS, p / 2)`` rows (below that the
    row-level pass is cheaper), and at most ``n / (8 p)`` patterns qualify, the most
    frequent ones, so that their ``p x p`` statistics take at most an eighth of the
    memory of the data (peak memory is bounded by 3x the input).
    """
    groups = patterns.groups
    if not groups:
        return ()
    p = patterns.n_cols
    min_rows = max(_DENSE_MIN_ROWS, p // 2)
    budget = patterns.n_rows // (8 * p)
    counts = np.sort(np.concatenate([g.counts for g in groups]))[::-1]
    if counts.size > budget:
        min_rows = max(min_rows, int(counts[budget]) + 1)
    return tuple(int(np.count_nonzero(g.counts >= min_rows)) for g in groups)


def prepare_blocks(patterns: Patterns, n_dense: tuple[int, ...] | None = None) -> tuple[Block, ...]:
    """Row blocks of the work array, by pattern chunk, with the indices of their missing cells.

    ``n_dense`` (per group, as :func:`dense_pattern_counts`) marks the chunks of frequent
    patterns: they never mix with the others.
    """
    p = patterns.n_cols
    # int32 halves the index memory; numpy converts per block when indexing
    itype = np.int32 if max(256 * p, _BLOCK_ELEMENTS) + p < np.iinfo(np.int32).max else np.intp
    ctype = np.int16 if p < np.iinfo(np.int16).max else np.int32
    blocks = []
    for gi, group in enumerate(patterns.groups):
        # rows are sorted by pattern: a chunk of patterns owns a contiguous run of rows
        row_starts = np.searchsorted(group.row_pattern, np.arange(group.n_patterns + 1))
        d = n_dense[gi] if n_dense else 0
        chunks = [(a, b, True) for a, b in pattern_chunks(d, group.n_miss)]
        chunks += [(d + a, d + b, False) for a, b in pattern_chunks(group.n_patterns - d, group.n_miss)]
        for pa, pb, dense in chunks:
            lo, hi = int(row_starts[pa]), int(row_starts[pb])
            for a, b in block_bounds(hi - lo, p):
                loc = group.row_pattern[lo + a : lo + b] - pa
                miss = group.miss[pa:pb][loc]
                r = b - a
                rows = np.arange(r, dtype=np.intp)[:, None]
                blocks.append(
                    Block(
                        group=gi,
                        pat_start=pa,
                        pat_stop=pb,
                        start=group.offset + lo + a,
                        stop=group.offset + lo + b,
                        loc=loc,
                        flat=(rows * p + miss).astype(itype),
                        flat_t=(miss * r + rows).astype(itype),
                        cols=miss.astype(ctype),
                        dense=dense,
                    )
                )
    return tuple(blocks)


def dense_statistics(work: np.ndarray, patterns: Patterns, n_dense: tuple[int, ...]) -> tuple[DenseStats, ...]:
    """:class:`DenseStats` of the frequent patterns; ``work`` must hold 0 in the missing cells."""
    out = []
    p = patterns.n_cols
    for group, d in zip(patterns.groups, n_dense):
        ends = np.cumsum(group.counts[:d])
        rows = work[group.offset : group.offset + (int(ends[-1]) if d else 0)]
        t = np.add.reduceat(rows, ends - group.counts[:d], axis=0) if d else np.zeros((0, p))
        T = np.empty((d, p, p))
        for g in range(d):
            block = rows[int(ends[g] - group.counts[g]) : int(ends[g])]
            np.matmul(block.T, block, out=T[g])
        out.append(DenseStats(t=t, T=T))
    return tuple(out)


def precision(sigma: np.ndarray) -> tuple[np.ndarray, float]:
    """``(Sigma^-1, log|Sigma|)`` through a Cholesky factor; raises :class:`Infeasible`."""
    if not np.all(np.isfinite(sigma)):
        raise Infeasible("non-finite covariance")
    try:
        chol = scipy.linalg.cholesky(sigma, lower=True, check_finite=False)
    except np.linalg.LinAlgError as exc:
        raise Infeasible(str(exc)) from None
    diag = np.diag(chol)
    if np.any(diag <= 0.0):
        raise Infeasible("singular covariance")
    prec = scipy.linalg.cho_solve((chol, True), np.eye(sigma.shape[0]), check_finite=False)
    prec = np.ascontiguousarray(0.5 * (prec + prec.T))
    return prec, 2.0 * float(np.sum(np.log(diag)))


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
    larger ``m`` the per-matrix LAPACK calls (Cholesky, inverse) are as fast (measured
    crossover).

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
        try:
            chol = np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            raise Infeasible("matrix not positive definite") from None
        diag = np.diagonal(chol, axis1=1, axis2=2)
        if not np.all(diag > 0.0):
            raise Infeasible("matrix not positive definite")
        inv = np.linalg.inv(a)
        return 0.5 * (inv + np.swapaxes(inv, 1, 2)), 2.0 * np.sum(np.log(diag), axis=1)
    bl = a.transpose(1, 2, 0).copy()
    pivots = _sweep_batch_last(bl)
    return bl.transpose(2, 0, 1), np.log(pivots).sum(axis=0)


def chunk_conditional(prec: np.ndarray, miss: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``C_M = (Lambda_MM)^-1`` for a chunk of patterns with ``m`` missing cells each.

    Returns ``(cond_t, logdet, cells)``: the inverses batch-last, shape ``(m, m, g)``;
    ``log|C_M|``, shape ``(g,)``; and the flat positions ``j * p + k`` in a ``p x p``
    matrix of every element of ``cond_t`` (same shape).
    """
    p = prec.shape[0]
    g, m = miss.shape
    mt = np.ascontiguousarray(miss.T)  # C-ordered (m, m, g) index, hence gather
    cells = mt[:, None, :] * p + mt[None, :, :]
    lam = prec.reshape(-1)[cells]  # batch-last gather: contiguous along the patterns
    if m < _SWEEP_MAX_M:
        if m == 1:
            d = lam[0, 0]
            if not np.all(d > 0.0):
                raise Infeasible("matrix not positive definite")
            return (1.0 / d)[None, None, :], -np.log(d), cells
        pivots = _sweep_batch_last(lam)
        return lam, -np.log(pivots).sum(axis=0), cells
    inv, logdet = spd_inverse_batch(lam.transpose(2, 0, 1))
    return np.ascontiguousarray(inv.transpose(1, 2, 0)), -logdet, cells


def conditional_blocks(prec: np.ndarray, group: PatternGroup) -> tuple[np.ndarray, np.ndarray]:
    """Conditional covariances of the missing cells for every pattern of a group.

    Parameters
    ----------
    prec : ndarray, shape (p, p)
        Precision matrix ``Lambda``.
    group : PatternGroup
        Patterns with ``m`` missing cells.

    Returns
    -------
    cond : ndarray, shape (G, m, m)
        ``C_M = (Lambda_MM)^-1`` per pattern.
    logdet : ndarray, shape (G,)
        ``log|C_M|``.
    """
    m = group.n_miss
    cond = np.empty((group.n_patterns, m, m))
    logdet = np.empty(group.n_patterns)
    for a, b in pattern_chunks(group.n_patterns, m):
        cond_t, logdet[a:b], _ = chunk_conditional(prec, group.miss[a:b])
        cond[a:b] = cond_t.transpose(2, 0, 1)
    return cond, logdet


def update_block(block: np.ndarray, blk: Block, cond: np.ndarray, prec: np.ndarray, prec_mu: np.ndarray) -> None:
    """Overwrite the missing cells of a block of rows with their conditional means.

    Update form (module docstring): ``zhat_M = w_M - C_M (Lambda w - Lambda mu)_M`` with
    ``w`` the rows as they are.

    Parameters
    ----------
    block : ndarray, shape (r, p), C order, modified in place
        Rows that all have ``m`` missing cells.
    blk : Block
        Its indices.
    cond : ndarray, shape (g, m, m)
        ``C_M`` of every pattern of the block's chunk.
    prec : ndarray, shape (p, p)
        ``Lambda``.
    prec_mu : ndarray, shape (p,)
        ``Lambda mu``.
    """
    flat_block = block.reshape(-1)
    # (Lambda (w - mu))_M for every row, from the transposed product (faster for tall
    # blocks); np.take is 1.3-3x faster than fancy indexing for these gathers
    lam = np.take((prec @ block.T).reshape(-1), blk.flat_t)
    lam -= np.take(prec_mu, blk.cols)
    if cond.shape[1] == 1:
        step = np.take(cond[:, 0, :], blk.loc, axis=0) * lam
    else:
        step = np.einsum("rjk,rk->rj", np.take(cond, blk.loc, axis=0), lam)
    flat_block[blk.flat] = np.take(flat_block, blk.flat) - step


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
    r"""Pattern-level E-step sums over the rows of a chunk of frequent patterns.

    With ``K = C_M Lambda_{M.}`` and ``a = C_M (Lambda mu)_M``, every row of pattern ``g``
    completes to ``zhat_M = a - K v`` (module docstring), so over its ``c`` rows

    .. math::

        \sum \hat z_M = c a - K t, \quad
        \sum \hat z_M v^\top = a t^\top - K T, \quad
        \sum \hat z_M \hat z_M^\top = c a a^\top - a (Kt)^\top - (Kt) a^\top + K T K^\top.

    ``cond`` holds ``C_M`` (shape ``(g, m, m)``), ``miss`` the missing columns and
    ``counts`` the row counts ``c`` of patterns ``pa:pb`` of the group whose frequent
    patterns ``stats`` describes. Returns ``(u, X, Y)``, shapes ``(g, m)``, ``(g, m, p)``,
    ``(g, m, m)``: these three sums.
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


def estep(data: StandardData, mu: np.ndarray, sigma: np.ndarray, ridge: float, *, rows: bool = True) -> EStep:
    """E-step statistics and observed-data log-likelihood at ``(mu, Sigma)``.

    With ``rows=True`` every incomplete row is completed in ``data.work`` (which then
    holds the conditional means at ``(mu, Sigma)``). With ``rows=False`` (the EM map) the
    rows of frequent patterns are not touched: their contribution is computed per pattern
    from :class:`DenseStats` (:func:`_dense_chunk`); the statistics are the same up to
    rounding. Raises :class:`Infeasible` when ``Sigma`` (or a block of its inverse) is
    not numerically positive definite.
    """
    n, p = data.n, data.p
    prec, logdet_sigma = precision(sigma)
    prec_mu = prec @ mu
    entropy = 0.0
    cond_sum = np.zeros(p * p)
    s1 = data.s1_complete.copy()
    s2 = data.s2_complete.copy()
    s1_flat = np.zeros(p)
    s2_flat = np.zeros(p * p)
    cols_p = np.arange(p)
    groups = data.patterns.groups
    current = (-1, -1)
    cond = np.empty(0)
    diags: list[list[np.ndarray]] = [[] for _ in groups]
    for blk in data.blocks:
        # blocks come in (group, chunk) order: one chunk's conditional covariances at a time
        if (blk.group, blk.pat_start) != current:
            current = (blk.group, blk.pat_start)
            group = groups[blk.group]
            miss = group.miss[blk.pat_start : blk.pat_stop]
            cond_t, logdet, cells = chunk_conditional(prec, miss)
            w = group.counts[blk.pat_start : blk.pat_stop].astype(float)
            entropy += float(w @ (group.n_miss * (LOG_2PI + 1.0) + logdet))
            weights = cond_t * w
            diags[blk.group].append(np.diagonal(cond_t).copy())  # (g, m)
            cond = np.ascontiguousarray(cond_t.transpose(2, 0, 1))
            if blk.dense and not rows:
                u, X, Y = _dense_chunk(cond, miss, prec, prec_mu, w, data.dense[blk.group], blk.pat_start, blk.pat_stop)
                s1_flat += np.bincount(miss.reshape(-1), weights=u.reshape(-1), minlength=p)
                pos = miss[:, :, None] * p + cols_p
                s2_flat += np.bincount(pos.reshape(-1), weights=X.reshape(-1), minlength=p * p)
                weights += Y.transpose(1, 2, 0)
            cond_sum += np.bincount(cells.reshape(-1), weights=weights.reshape(-1), minlength=p * p)
        if blk.dense and not rows:
            continue
        block = data.work[blk.start : blk.stop]
        update_block(block, blk, cond, prec, prec_mu)
        s1 += np.ones(block.shape[0]) @ block
        s2 += block.T @ block
    if not rows and data.dense:
        cross = s2_flat.reshape(p, p)
        s1 += data.s1_dense + s1_flat
        s2 += data.s2_dense + cross + cross.T
    # scatter about mu: sum (z - mu)(z - mu)' = S2 - s1 mu' - mu s1' + n mu mu'
    scatter = s2 - np.outer(s1, mu) - np.outer(mu, s1) + n * np.outer(mu, mu) + cond_sum.reshape(p, p)
    scatter = 0.5 * (scatter + scatter.T)
    dsum = s1 - n * mu
    loglik = -0.5 * (n * p * LOG_2PI + n * logdet_sigma + float(np.sum(prec * scatter))) + 0.5 * entropy
    objective = loglik
    if ridge > 0.0:
        objective -= 0.5 * ridge * (logdet_sigma + float(np.trace(prec)))
    if not np.isfinite(objective):
        raise Infeasible("non-finite objective")
    cond_diag = tuple(np.concatenate(d) for d in diags)
    return EStep(loglik=loglik, objective=objective, dsum=dsum, scatter=scatter, cond_diag=cond_diag)


def mstep(data: StandardData, mu: np.ndarray, stats: EStep, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """M-step: the posterior mode ``(mu', Sigma')`` given E-step statistics (``D = I``)."""
    n = data.n
    delta = stats.dsum / n
    mu_new = mu + delta
    scatter = stats.scatter - n * np.outer(delta, delta)
    if ridge > 0.0:
        scatter = scatter + ridge * np.eye(data.p)
    sigma = scatter / (n + ridge)
    return mu_new, 0.5 * (sigma + sigma.T)
