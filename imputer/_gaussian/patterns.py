"""Missingness patterns: group the rows of an ``n x p`` missing-value mask once.

A *pattern* is the set ``M`` of missing columns of a row. Every quantity the E-step
needs at the pattern level (the conditional covariance ``C_M = (Lambda_MM)^-1`` with
``Lambda = Sigma^-1``, its log-determinant) depends on ``M`` only, so it is computed once
per distinct pattern and per iteration. Patterns are grouped by their number of
missing cells ``m``: within a group every pattern has an ``m x m`` block, so the
pattern-level linear algebra is batched over the group, and the row-level work is done
on contiguous blocks of rows sorted by (group, pattern).

Within a group, patterns are ordered by decreasing number of rows (then by an arbitrary
but fixed id), so that the frequent patterns, which the E-step can treat at the pattern
level, come first.

Rows with no missing cell (the complete pattern) are kept apart: their contribution to
the sufficient statistics does not change between iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PatternGroup", "Patterns", "build_patterns"]


@dataclass(frozen=True)
class PatternGroup:
    """The patterns with exactly ``n_miss`` missing cells, and their rows.

    Attributes
    ----------
    n_miss : int
        ``m``, the number of missing cells of every pattern in the group (``1 <= m <= p``).
    miss : ndarray of intp, shape (G, m)
        Missing column indices of each pattern, ascending.
    counts : ndarray of int64, shape (G,)
        Number of rows with each pattern, non-increasing.
    rows : ndarray of intp, shape (r,)
        Original indices of the group's rows, sorted by pattern (``r = counts.sum()``).
    row_pattern : ndarray of intp, shape (r,)
        Index (into ``miss``/``counts``) of each row's pattern.
    offset : int
        Position of the group's first row in the stacked order of all incomplete rows.
    """

    n_miss: int
    miss: np.ndarray
    counts: np.ndarray
    rows: np.ndarray
    row_pattern: np.ndarray
    offset: int

    @property
    def n_patterns(self) -> int:
        """Number of distinct patterns in the group."""
        return int(self.miss.shape[0])

    @property
    def n_rows(self) -> int:
        """Number of rows in the group."""
        return int(self.rows.shape[0])


@dataclass(frozen=True)
class Patterns:
    """All missingness patterns of a mask.

    Attributes
    ----------
    n_rows, n_cols : int
        Shape ``(n, p)`` of the mask.
    complete_rows : ndarray of intp, shape (n_c,)
        Rows with no missing cell, ascending.
    groups : tuple of PatternGroup
        Incomplete rows, grouped by number of missing cells (ascending ``m``).
    """

    n_rows: int
    n_cols: int
    complete_rows: np.ndarray
    groups: tuple[PatternGroup, ...]

    @property
    def n_patterns(self) -> int:
        """Number of distinct patterns, the complete pattern included if present."""
        return sum(g.n_patterns for g in self.groups) + int(self.complete_rows.size > 0)

    @property
    def incomplete_rows(self) -> np.ndarray:
        """Original indices of the incomplete rows in stacked (group, pattern) order."""
        if not self.groups:
            return np.empty(0, dtype=np.intp)
        return np.concatenate([g.rows for g in self.groups])


def _pattern_ids(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of ``mask``: (pattern masks (G, p), inverse (n,), counts (G,))."""
    n, p = mask.shape
    if p <= 63:
        # one integer key per row, built column by column (no n x p temporary)
        key = np.zeros(n, dtype=np.uint64)
        for j in range(p):
            key |= mask[:, j].astype(np.uint64) << np.uint64(j)
        ukeys, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        bits = np.uint64(1) << np.arange(p, dtype=np.uint64)
        pmask = (ukeys[:, None] & bits[None, :]) != 0
    else:
        packed = np.packbits(mask, axis=1)
        upacked, inverse, counts = np.unique(packed, axis=0, return_inverse=True, return_counts=True)
        pmask = np.unpackbits(upacked, axis=1, count=p).astype(bool)
    return pmask, inverse.reshape(-1).astype(np.intp), counts.astype(np.int64)


def build_patterns(mask: np.ndarray) -> Patterns:
    """Group the rows of a missing-value mask by pattern.

    Parameters
    ----------
    mask : ndarray of bool, shape (n, p)
        True where a cell is missing.

    Returns
    -------
    Patterns
    """
    mask = np.asarray(mask, dtype=bool)
    n, p = mask.shape
    pmask, inverse, counts = _pattern_ids(mask)
    n_miss = pmask.sum(axis=1)
    # order patterns by (number missing, most rows first, pattern id); rows by their
    # pattern's rank
    porder = np.lexsort((np.arange(pmask.shape[0]), -counts, n_miss))
    rank = np.empty(porder.size, dtype=np.intp)
    rank[porder] = np.arange(porder.size)
    row_rank = rank[inverse]
    # a stable sort of 16-bit keys is a radix sort (10x faster than for 64-bit keys)
    key = row_rank.astype(np.uint16) if porder.size <= np.iinfo(np.uint16).max + 1 else row_rank
    order = np.argsort(key, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts[porder])))

    m_sorted = n_miss[porder]
    # missing columns of every pattern in rank order, row-major: a group's patterns are
    # consecutive ranks, so its (G, m) index is one slice of this
    miss_all = np.nonzero(pmask[porder])[1].astype(np.intp)
    cell_starts = np.concatenate(([0], np.cumsum(m_sorted)))
    complete_rows = np.empty(0, dtype=np.intp)
    groups: list[PatternGroup] = []
    offset = 0
    for m in np.unique(m_sorted):
        lo, hi = np.searchsorted(m_sorted, [m, m + 1])
        rows = order[starts[lo] : starts[hi]].astype(np.intp)
        if m == 0:
            complete_rows = np.sort(rows)
            continue
        pids = porder[lo:hi]
        miss = miss_all[cell_starts[lo] : cell_starts[hi]].reshape(hi - lo, int(m))
        groups.append(
            PatternGroup(
                n_miss=int(m),
                miss=miss,
                counts=counts[pids],
                rows=rows,
                row_pattern=(row_rank[rows] - lo).astype(np.intp),
                offset=offset,
            )
        )
        offset += rows.size
    return Patterns(n_rows=n, n_cols=p, complete_rows=complete_rows, groups=tuple(groups))
