r"""Row layout of incomplete data for the Gaussian kernels (private; clean input assumed).

The rows of an ``n x p`` data matrix ``Z`` (NaN = missing) are stored as

* one C-ordered *work array* of the incomplete rows in stacked (group, pattern) order
  (:mod:`imputer._gaussian.patterns`): observed cells fixed, missing cells holding
  whatever the last completion wrote (0 at first). The kernels complete rows in *update
  form*, exact for any content of the missing cells (:mod:`imputer._gaussian.chunks`);
* the complete rows only through their sum ``sum z`` and cross-product ``sum z z'``
  (constant), and optionally as rows (needed by weighted E-steps and per-row functions).

The patterns of a group are cut into *chunks* of about ``_CHUNK_ELEMENTS`` numbers of
``m x m`` blocks (:func:`pattern_chunks`), so that a chunk's conditional covariances stay
in cache while its rows are processed; the rows of a chunk are cut into *blocks* of
about ``_BLOCK_ELEMENTS`` numbers (:func:`block_bounds`), each with precomputed flat
indices of its missing cells (:class:`Block`).

*Frequent* patterns (:func:`dense_pattern_counts`) get chunks of their own and their
observed-part sums ``t = sum v``, ``T = sum v v'`` (``v`` = the row with 0 in its missing
cells, :class:`DenseStats`), with which an unweighted E-step sums them per pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imputer._gaussian.linalg import SWEEP_MAX_M
from imputer._gaussian.patterns import Patterns, build_patterns

__all__ = [
    "Block",
    "ChunkSpec",
    "DenseStats",
    "StandardData",
    "assemble",
    "block_bounds",
    "build_layout",
    "chunk_specs",
    "dense_pattern_counts",
    "dense_statistics",
    "pattern_chunks",
    "prepare_blocks",
]

# rows per block in the row-level pass: about 2 MB of float64 per temporary
_BLOCK_ELEMENTS = 1 << 18
# fewest rows of a pattern treated at the pattern level (see dense_pattern_counts)
_DENSE_MIN_ROWS = 8
# patterns per chunk in the pattern-level pass: about 512 kB of m x m blocks (measured:
# 2-5x faster than whole groups, whose sweep runs from memory instead of cache); at least
# 32 patterns where the sweep vectorises over them, as few as one where LAPACK inverts
# each block on its own (wide data: a chunk's temporaries stay small)
_CHUNK_ELEMENTS = 1 << 16
_CHUNK_MIN_SWEEP = 32


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
class ChunkSpec:
    """A chunk of patterns of one group and the run of blocks holding its rows.

    Attributes
    ----------
    group : int
        Pattern group.
    pat_start, pat_stop : int
        Patterns ``pat_start:pat_stop`` of the group.
    dense : bool
        Frequent patterns (with :class:`DenseStats`).
    block_start, block_stop : int
        Its rows are ``blocks[block_start:block_stop]`` of the layout (empty for specs
        made from the patterns alone).
    """

    group: int
    pat_start: int
    pat_stop: int
    dense: bool = False
    block_start: int = 0
    block_stop: int = 0


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
    """Rows laid out for the kernels (in the engine: standardised units).

    Attributes
    ----------
    patterns : Patterns
        Missingness patterns of the rows.
    work : ndarray, shape (n_inc, p), C order -- mutable
        Incomplete rows in stacked (group, pattern) order; E-steps and fills overwrite the
        missing cells with conditional means at their parameters.
    blocks : tuple of Block
        Row blocks of ``work``, in (group, chunk) order.
    chunks : tuple of ChunkSpec
        The pattern chunks, in the same order, each with its run of ``blocks``.
    s1_complete : ndarray, shape (p,)
        Sum of the complete rows.
    s2_complete : ndarray, shape (p, p)
        Sum of outer products of the complete rows.
    dense : tuple of DenseStats
        Per pattern group, the observed-part statistics of its frequent patterns (the
        first ``n_patterns`` of the group). Empty when no pattern is frequent enough.
    s1_dense, s2_dense : ndarray, shapes (p,), (p, p)
        ``sum t`` and ``sum T`` over all frequent patterns.
    complete : ndarray, shape (n_complete, p), or None
        The complete rows (order of ``patterns.complete_rows``), when kept: weighted
        E-steps and per-row functions need them.
    memo : dict
        Constant per-layout set-up of the kernels, built on first use and reused by every
        E-step (e.g. :class:`~imputer._gaussian.estep.SmallPlan`); not copied by
        ``dataclasses.replace``.
    """

    patterns: Patterns
    work: np.ndarray
    blocks: tuple[Block, ...]
    chunks: tuple[ChunkSpec, ...]
    s1_complete: np.ndarray
    s2_complete: np.ndarray
    dense: tuple[DenseStats, ...] = ()
    s1_dense: np.ndarray | None = None
    s2_dense: np.ndarray | None = None
    complete: np.ndarray | None = None
    memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n(self) -> int:
        return self.patterns.n_rows

    @property
    def p(self) -> int:
        return self.patterns.n_cols

    @property
    def n_complete(self) -> int:
        return int(self.patterns.complete_rows.size)

    def complete_rows(self) -> np.ndarray:
        """The complete rows, shape (n_complete, p); raises if they were not kept."""
        if self.complete is None:
            if self.n_complete:
                raise ValueError("layout built without its complete rows (keep_complete=False)")
            return np.empty((0, self.p))
        return self.complete


def block_bounds(n_rows: int, p: int) -> list[tuple[int, int]]:
    """Split ``range(n_rows)`` into blocks of about ``_BLOCK_ELEMENTS / p`` rows."""
    size = max(256, _BLOCK_ELEMENTS // max(p, 1))
    return [(a, min(a + size, n_rows)) for a in range(0, n_rows, size)]


def pattern_chunks(n_patterns: int, m: int) -> list[tuple[int, int]]:
    """Split the ``n_patterns`` patterns of a group into chunks of about ``_CHUNK_ELEMENTS / m^2``."""
    size = max(_CHUNK_MIN_SWEEP if m < SWEEP_MAX_M else 1, _CHUNK_ELEMENTS // (m * m))
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


def chunk_specs(patterns: Patterns, n_dense: tuple[int, ...] | None = None) -> list[ChunkSpec]:
    """The pattern chunks of every group (frequent patterns, per ``n_dense``, chunked apart)."""
    specs = []
    for gi, group in enumerate(patterns.groups):
        d = n_dense[gi] if n_dense else 0
        specs += [ChunkSpec(gi, a, b, True) for a, b in pattern_chunks(d, group.n_miss)]
        specs += [ChunkSpec(gi, d + a, d + b, False) for a, b in pattern_chunks(group.n_patterns - d, group.n_miss)]
    return specs


def prepare_blocks(
    patterns: Patterns, n_dense: tuple[int, ...] | None = None
) -> tuple[tuple[Block, ...], tuple[ChunkSpec, ...]]:
    """Row blocks of the work array, by pattern chunk, with the indices of their missing cells.

    ``n_dense`` (per group, as :func:`dense_pattern_counts`) marks the chunks of frequent
    patterns: they never mix with the others. Returns the blocks and the chunks (each
    with its run of blocks).
    """
    p = patterns.n_cols
    # int32 halves the index memory; numpy converts per block when indexing
    itype = np.int32 if max(256 * p, _BLOCK_ELEMENTS) + p < np.iinfo(np.int32).max else np.intp
    ctype = np.int16 if p < np.iinfo(np.int16).max else np.int32
    blocks: list[Block] = []
    specs: list[ChunkSpec] = []
    # rows are sorted by pattern: a chunk of patterns owns a contiguous run of rows
    row_starts = [np.searchsorted(g.row_pattern, np.arange(g.n_patterns + 1)) for g in patterns.groups]
    for spec in chunk_specs(patterns, n_dense):
        gi, pa, pb = spec.group, spec.pat_start, spec.pat_stop
        group = patterns.groups[gi]
        lo, hi = int(row_starts[gi][pa]), int(row_starts[gi][pb])
        first = len(blocks)
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
                    dense=spec.dense,
                )
            )
        specs.append(ChunkSpec(gi, pa, pb, spec.dense, first, len(blocks)))
    return tuple(blocks), tuple(specs)


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


def assemble(
    patterns: Patterns,
    work: np.ndarray,
    s1_complete: np.ndarray,
    s2_complete: np.ndarray,
    complete: np.ndarray | None = None,
) -> StandardData:
    """The layout of a work array (0 in its missing cells) and the complete rows' sums."""
    p = patterns.n_cols
    n_dense = dense_pattern_counts(patterns)
    dense = dense_statistics(work, patterns, n_dense) if any(n_dense) else ()
    blocks, specs = prepare_blocks(patterns, n_dense)
    return StandardData(
        patterns=patterns,
        work=work,
        blocks=blocks,
        chunks=specs,
        s1_complete=s1_complete,
        s2_complete=s2_complete,
        dense=dense,
        s1_dense=sum((d.t.sum(axis=0) for d in dense), np.zeros(p)),
        s2_dense=sum((d.T.sum(axis=0) for d in dense), np.zeros((p, p))),
        complete=complete,
    )


def build_layout(x: np.ndarray, *, keep_complete: bool = True) -> StandardData:
    """Layout of an ``(n, p)`` float array with NaN for missing cells, in its own units.

    Parameters
    ----------
    x : ndarray, shape (n, p)
        Finite where observed, NaN where missing (not modified).
    keep_complete : bool, default True
        Keep the complete rows (for weighted E-steps and per-row functions).

    Returns
    -------
    StandardData
    """
    x = np.asarray(x, dtype=float)
    mask = np.isnan(x)
    patterns = build_patterns(mask)
    work = np.ascontiguousarray(x[patterns.incomplete_rows])
    np.copyto(work, 0.0, where=np.isnan(work))
    comp = np.ascontiguousarray(x[patterns.complete_rows])
    return assemble(
        patterns, work, np.ones(comp.shape[0]) @ comp, comp.T @ comp, comp if keep_complete else None
    )
