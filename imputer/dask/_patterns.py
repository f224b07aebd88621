r"""The table's observed data reduced to per-pattern moments: EM with no pass per evaluation (private).

For the multivariate normal the E-step at any ``theta = (mu, Sigma)`` depends on the rows
of a missingness pattern ``g`` (missing set ``M``, ``c_g`` rows) only through

.. math::

    c_g, \qquad t_g = \sum_{i \in g} v_i, \qquad T_g = \sum_{i \in g} v_i v_i^\top,

with ``v_i`` the standardised row with 0 in its missing cells: the in-memory engine's
*dense-pattern shortcut* (:mod:`imputer._gaussian.estep`, :class:`~imputer._gaussian.layout.DenseStats`)
sums the conditional moments of a frequent pattern from exactly these, and they do not
change between EM iterations. So the one pass over the partitions that gives the
scaling (:mod:`imputer.dask._scan`) also gives every partition's :class:`PatternTable`
(:func:`scan_partition`): the scaling is not known yet, so the table holds ``x - a``
(``a``: the partition's column means, the scan's shift) instead of ``v``; a tree
reduction merges the partitions' scans, moving their tables to a common shift
(:func:`moved`: ``t - c e``, ``T - t e' - e t' + c e e'``, the shift algebra of the scan)
and adding equal patterns (:func:`merge_tables`); on the client the merged table is
moved to the global centre and divided by the scale (:func:`standardised`). The whole EM
then runs on the client against it: :func:`table_layout` makes it a layout on which
every pattern is a frequent one and no row is stored, and the in-memory
:func:`~imputer._gaussian.estep.estep` runs on it unchanged. The estimates are the
in-memory ones to rounding (the same statistics, summed in another order, with shifts
near the data); the cluster is not used again until the lazy completed table.

The complete pattern (no missing cell) is one entry of the table too: its ``t`` and ``T``
are the complete rows' ``s_1`` and ``S_2``.

Memory: ``G (p^2 + p + 2)`` numbers for ``G`` distinct patterns, independent of the
number of rows. A partition builds its table, and a merge keeps one, only while
:func:`table_bytes` of its distinct patterns is within the budget
(:data:`imputer.dask.api.MAX_TABLE_BYTES`); otherwise the scan carries no table and the
fit takes the per-evaluation map-reduce of :mod:`imputer.dask._engine`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from imputer._gaussian.layout import DenseStats, StandardData, chunk_specs, dense_statistics
from imputer._gaussian.patterns import PatternGroup, Patterns
from imputer._gaussian.stats import SufficientStats
from imputer.dask import _kernels as k
from imputer.dask._scan import Moments, merge, moments, pattern_keys

__all__ = [
    "PatternTable",
    "ScanPart",
    "TableStatistics",
    "merge_scans",
    "merge_tables",
    "moved",
    "partition_table",
    "pattern_masks",
    "scan_partition",
    "standardised",
    "table_bytes",
    "table_layout",
]


def pattern_masks(table: PatternTable) -> np.ndarray:
    """The missing masks ``(G, p)`` of the table's patterns."""
    j = np.arange(table.p)
    return (table.keys[:, j // 64] >> (j % 64).astype(np.uint64)) & np.uint64(1) != 0


def table_bytes(n_patterns: int, p: int) -> int:
    """Bytes of a :class:`PatternTable` of ``n_patterns`` patterns of ``p`` columns."""
    return 8 * n_patterns * (p * p + p + 1 + (p + 63) // 64)


@dataclass(frozen=True, eq=False)
class PatternTable:
    """Per-pattern moments of some rows in standardised units (module docstring).

    Attributes
    ----------
    p : int
    keys : ndarray of uint64, shape (G, ceil(p / 64))
        The missing masks of the patterns (:func:`pattern_keys`), distinct.
    counts : ndarray of int64, shape (G,)
        ``c_g``.
    t : ndarray, shape (G, p)
        ``t_g`` (0 in the missing columns).
    T : ndarray, shape (G, p, p)
        ``T_g`` (0 in the missing rows and columns).
    """

    p: int
    keys: np.ndarray
    counts: np.ndarray
    t: np.ndarray
    T: np.ndarray

    @property
    def n_patterns(self) -> int:
        return int(self.counts.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.counts.sum())


def _empty(p: int) -> PatternTable:
    return PatternTable(p, np.zeros((0, max(1, (p + 63) // 64)), dtype=np.uint64), np.zeros(0, dtype=np.int64), np.zeros((0, p)), np.zeros((0, p, p)))


def partition_table(values: tuple[np.ndarray, ...], scaling: k.Scaling) -> PatternTable:
    """The :class:`PatternTable` of one partition's modelled columns (float64, NaN missing).

    The standardised work array and the complete rows' sums are the in-memory engine's
    (:func:`imputer.mvn._fit.standardise`); ``t_g``, ``T_g`` of every incomplete pattern
    are its :func:`~imputer._gaussian.layout.dense_statistics` with every pattern counted
    as a frequent one.
    """
    p = len(values)
    n = values[0].shape[0]
    if n == 0:
        return _empty(p)
    data = k.layout(values, scaling)
    patterns = data.patterns
    groups = patterns.groups
    dense = dense_statistics(data.work, patterns, tuple(g.n_patterns for g in groups)) if groups else ()
    keys, counts, t, T = [], [], [], []
    if patterns.complete_rows.size:
        keys.append(np.zeros((1, max(1, (p + 63) // 64)), dtype=np.uint64))
        counts.append(np.array([patterns.complete_rows.size], dtype=np.int64))
        t.append(data.s1_complete[None, :])
        T.append(data.s2_complete[None, :, :])
    for group, stats in zip(groups, dense):
        mask = np.zeros((group.n_patterns, p), dtype=bool)
        mask[np.arange(group.n_patterns)[:, None], group.miss] = True
        keys.append(pattern_keys(mask))
        counts.append(group.counts.astype(np.int64))
        t.append(stats.t)
        T.append(stats.T)
    return PatternTable(p, np.concatenate(keys), np.concatenate(counts), np.concatenate(t), np.concatenate(T))


def merge_tables(*tables: PatternTable) -> PatternTable:
    """The :class:`PatternTable` of the rows of all ``tables``: equal patterns' moments added (in argument order)."""
    p = tables[0].p
    keys = np.concatenate([tb.keys for tb in tables])
    if keys.shape[0] == 0:
        return _empty(p)
    if keys.shape[1] == 1:
        uniq, inverse = np.unique(keys[:, 0], return_inverse=True)
        uniq = uniq[:, None]
    else:
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")  # a pattern's entries in argument order
    starts = np.flatnonzero(np.concatenate(([True], np.diff(inverse[order]) != 0)))

    def add(name: str) -> np.ndarray:
        return np.add.reduceat(np.concatenate([getattr(tb, name) for tb in tables])[order], starts, axis=0)

    return PatternTable(p, uniq, add("counts"), add("t"), add("T"))


def table_layout(table: PatternTable) -> StandardData:
    """A layout of the table's rows that holds no row: every incomplete pattern a frequent one.

    Its patterns (grouped by size, most rows first, as :func:`~imputer._gaussian.patterns.build_patterns`
    orders them) carry their counts and :class:`~imputer._gaussian.layout.DenseStats`
    ``(t_g, T_g)``; the complete pattern its ``s_1``, ``S_2``; the work array, the row
    blocks and the patterns' row indices are empty. Only the unweighted
    :func:`~imputer._gaussian.estep.estep` with its shortcut (the default) may run on it:
    that E-step reads nothing else.
    """
    p = table.p
    mask = pattern_masks(table)
    n_miss = mask.sum(axis=1)
    full = np.flatnonzero(n_miss == 0)
    s1c = table.t[full].sum(axis=0) if full.size else np.zeros(p)
    s2c = table.T[full].sum(axis=0) if full.size else np.zeros((p, p))
    order = np.lexsort((np.arange(n_miss.size), -table.counts, n_miss))
    order = order[n_miss[order] > 0]
    none = np.empty(0, dtype=np.intp)
    groups, dense = [], []
    for m in np.unique(n_miss[order]):
        idx = order[n_miss[order] == m]
        miss = np.nonzero(mask[idx])[1].astype(np.intp).reshape(idx.size, int(m))
        groups.append(PatternGroup(n_miss=int(m), miss=miss, counts=table.counts[idx], rows=none, row_pattern=none, offset=0))
        dense.append(DenseStats(t=table.t[idx], T=table.T[idx]))
    patterns = Patterns(n_rows=table.n_rows, n_cols=p, complete_rows=none, groups=tuple(groups))
    specs = chunk_specs(patterns, tuple(g.n_patterns for g in groups))
    return StandardData(
        patterns=patterns,
        work=np.empty((0, p)),
        blocks=(),
        chunks=tuple(specs),
        s1_complete=s1c,
        s2_complete=s2c,
        dense=tuple(dense),
        s1_dense=sum((d.t.sum(axis=0) for d in dense), np.zeros(p)),
        s2_dense=sum((d.T.sum(axis=0) for d in dense), np.zeros((p, p))),
    )


def moved(table: PatternTable, d: np.ndarray) -> PatternTable:
    """The table of the same rows with ``d`` subtracted from every observed cell (``v -> v - d`` on ``O``).

    Per pattern, with ``e = d`` on the observed columns and 0 elsewhere:
    ``t' = t - c e``, ``T' = T - t e' - e t' + c e e'``.
    """
    e = np.where(pattern_masks(table), 0.0, d)  # (G, p)
    c = table.counts.astype(float)
    te = table.t[:, :, None] * e[:, None, :]
    T = table.T - te - te.transpose(0, 2, 1) + c[:, None, None] * e[:, :, None] * e[:, None, :]
    return PatternTable(table.p, table.keys, table.counts, table.t - c[:, None] * e, T)


def standardised(table: PatternTable, shift: np.ndarray, scaling: k.Scaling) -> PatternTable:
    """A table of raw values less ``shift`` in the units ``z = (x - center) / scale`` of ``scaling``."""
    out = moved(table, scaling.center - shift)
    s = scaling.scale
    return PatternTable(table.p, out.keys, out.counts, out.t / s, out.T / np.outer(s, s))


class ScanPart(NamedTuple):
    """What one pass gives about some rows: their moments, and their raw pattern table about ``moments.shift``.

    ``table`` is None when it would exceed the budget (too many distinct patterns).
    """

    moments: Moments
    table: PatternTable | None


def scan_partition(values: tuple[np.ndarray, ...], budget: int) -> ScanPart:
    """The :class:`ScanPart` of one partition's modelled columns (float64, NaN missing).

    The table is :func:`partition_table` in the units ``x - a`` (``a``: the partition's
    shift, its columns' observed means), built only when its distinct patterns fit ``budget`` bytes.
    """
    m = moments(values)
    p = len(values)
    if table_bytes(m.patterns.shape[0], p) > budget or np.any(m.n_inf):  # infinite cells: an error after the pass
        return ScanPart(m, None)
    unit = k.Scaling(center=m.shift, scale=np.ones(p), n_observed=np.diag(m.N).copy())
    return ScanPart(m, partition_table(values, unit))


def merge_scans(*parts: ScanPart, budget: int) -> ScanPart:
    """The :class:`ScanPart` of the rows of all ``parts``: moments merged, tables moved to the merged shift and merged."""
    merged = merge(*(part.moments for part in parts))
    if any(part.table is None for part in parts) or table_bytes(merged.patterns.shape[0], merged.shift.size) > budget:
        return ScanPart(merged, None)
    tables = [moved(part.table, merged.shift - part.moments.shift) for part in parts]  # type: ignore[arg-type]
    return ScanPart(merged, merge_tables(*tables))


class TableStatistics:
    """The E-step statistics of the table at any ``theta``, from its :class:`PatternTable` (on the client).

    The drop-in for :class:`imputer.dask._engine.Partitions` in
    :class:`~imputer.dask._engine.DaskMVNProblem`: same :meth:`statistics`, no cluster work.
    """

    def __init__(self, table: PatternTable) -> None:
        self.table = table
        self.layout = table_layout(table)

    def statistics(self, backend: Any, mu: np.ndarray, sigma: np.ndarray, prec: tuple[np.ndarray, float], scaling: k.Scaling) -> SufficientStats:
        """``T(mu, sigma)`` of the whole table (the arguments of :meth:`Partitions.statistics`; ``backend`` and ``scaling`` unused)."""
        return k.partition_stats(self.layout, mu, sigma, prec)

