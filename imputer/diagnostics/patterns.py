r"""``patterns``: the missingness pattern table of a table (mice's ``md.pattern``).

The job. For the ``n x p`` missing-value indicator ``R`` of the modelled columns
(``R_ij = 1`` when cell ``(i, j)`` is observed, ``0`` when it is missing), a *pattern* is
a distinct row ``r`` of ``R``; its count is ``n_r = #{i : R_i = r}`` and its number of
missing variables is ``m_r = p - sum_j r_j``. The table lists every pattern once, with

.. math::

    \sum_r n_r = n, \qquad \sum_r n_r (1 - r_j) = \text{missing cells of column } j,
    \qquad \sum_r n_r m_r = \text{missing cells}.

Rows are ordered by count (most frequent first); ties by fewer missing variables first,
then by the indicators read left to right with 1 (observed) before 0 (missing). The
order depends on the data's patterns only, not on the order of its rows.

The rows are grouped once, vectorised, by :func:`imputer._gaussian.patterns.build_patterns`
(the grouping the EM engine uses), so tables with many thousands of patterns are cheap.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imputer._frozen import ReadOnlyField, same_fields
from imputer._gaussian.patterns import build_patterns
from imputer._json import json_labels, labelled_values, split_frame
from imputer._render import render_fields, render_table, render_title
from imputer.mvn._validate import float_values, refuse_dask, select

__all__ = ["PatternTable", "patterns", "SHOW_PATTERNS"]

#: patterns ``summary()`` shows before "... (k more patterns)"
SHOW_PATTERNS = 50


@dataclass(frozen=True, eq=False)
class PatternTable:
    """The missingness patterns of the modelled columns of a table.

    A value: ``==`` compares every field (labels and dtypes included) and ``hash``
    agrees; reading a pandas field returns a new object, so changing it leaves the
    result unchanged (see :mod:`imputer._frozen`).

    Attributes
    ----------
    table : DataFrame, shape (G, p + 2)
        One row per pattern (index ``0 .. G-1``, named ``"pattern"``), in the order of the
        module docstring. One ``int64`` column per modelled variable (1 observed,
        0 missing), then ``count`` (rows with the pattern) and ``n_missing`` (variables
        missing in the pattern); these two are always the last two columns (read them by
        position, or with :attr:`counts`, if a modelled column is itself called
        ``"count"`` or ``"n_missing"``). An infinite value counts as observed.
    column_missing : Series of int64, shape (p,)
        Missing cells of each modelled column (the bottom row of ``md.pattern``), named
        ``"n_missing"``.
    columns : tuple
        Labels of the modelled columns (``p``), in the table's column order.
    passthrough : tuple
        Labels of the other (non-modelled) columns of the data, which are not tabulated.
    n_rows : int
        Rows of the data, ``n`` (the sum of ``count``).
    """

    table: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    column_missing: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    columns: tuple[Hashable, ...]
    passthrough: tuple[Hashable, ...]
    n_rows: int

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PatternTable):
            return NotImplemented
        return self is other or same_fields(self, other)

    def __hash__(self) -> int:
        return hash(("PatternTable", self.n_rows, len(self.columns), self.n_patterns))

    @property
    def n_patterns(self) -> int:
        """Number of distinct patterns, ``G``."""
        return int(self.__dict__["table"].shape[0])

    @property
    def n_cells(self) -> int:
        """Cells of the modelled columns, ``n * p``."""
        return self.n_rows * len(self.columns)

    @property
    def n_missing_cells(self) -> int:
        """Missing cells of the modelled columns."""
        return int(self.__dict__["column_missing"].sum())

    @property
    def n_complete_rows(self) -> int:
        """Rows with no missing modelled cell (the count of the all-observed pattern, or 0)."""
        t = self.__dict__["table"]
        return int(t.iloc[:, -2][t.iloc[:, -1] == 0].sum())

    @property
    def counts(self) -> pd.Series:
        """The ``count`` column of ``table``: rows with each pattern, shape (G,)."""
        return self.__dict__["table"].iloc[:, -2].copy()

    @property
    def column_missing_share(self) -> pd.Series:
        """Share (0..1) of each modelled column's cells that are missing, shape (p,)."""
        return (self.column_missing / self.n_rows).rename("share_missing")

    def summary(self, max_patterns: int = SHOW_PATTERNS) -> str:
        """Readable text: sizes, per-column missingness and the pattern table.

        Parameters
        ----------
        max_patterns : int, default 50
            Patterns shown (the most frequent); the text says how many more there are.
        """
        n_cells = self.n_cells
        miss = self.n_missing_cells
        fields = [
            ("rows", self.n_rows),
            ("modelled columns", len(self.columns)),
            ("passed through (not tabulated)", len(self.passthrough)),
            ("missing cells", f"{miss:,} of {n_cells:,} ({100.0 * miss / n_cells:.1f}%)"),
            ("complete rows", f"{self.n_complete_rows:,} of {self.n_rows:,}"),
            ("missingness patterns", self.n_patterns),
        ]
        per_col = pd.DataFrame(
            {"missing": self.column_missing, "% of rows": (100.0 * self.column_missing_share).round(1)},
        )
        shown = self.table.head(max(int(max_patterns), 0))
        parts = [
            render_title("Missingness patterns"),
            render_fields(fields),
            *(["No missing cells: nothing to impute."] if miss == 0 else []),
            "",
            "Per column",
            render_table(per_col),
            "",
            "Patterns (1 observed, 0 missing; most frequent first)",
            render_table(shown),
        ]
        if self.n_patterns > shown.shape[0]:
            rest = self.table.iloc[shown.shape[0] :]
            parts.append(f"... ({self.n_patterns - shown.shape[0]:,} more patterns, {int(rest.iloc[:, -2].sum()):,} rows)")
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the wire convention of :mod:`imputer._json`).

        Returns
        -------
        dict
            ``columns``, ``passthrough``, ``n_rows``, ``n_patterns``, ``n_complete_rows``,
            ``n_missing_cells``, ``table`` (``{"columns", "index", "data"}``: the modelled
            columns' labels then ``"count"`` and ``"n_missing"``; integers) and
            ``column_missing`` (object keyed by :func:`~imputer._json.json_key` of each
            modelled column).
        """
        return {
            "columns": json_labels(self.columns),
            "passthrough": json_labels(self.passthrough),
            "n_rows": int(self.n_rows),
            "n_patterns": self.n_patterns,
            "n_complete_rows": self.n_complete_rows,
            "n_missing_cells": self.n_missing_cells,
            "table": split_frame(self.__dict__["table"]),
            "column_missing": labelled_values(self.__dict__["column_missing"]),
        }


def pattern_matrix(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a missing-value mask, in the table's order (private kernel).

    Parameters
    ----------
    mask : ndarray of bool, shape (n, p)
        True where a cell is missing.

    Returns
    -------
    observed : ndarray of int64, shape (G, p)
        1 where the pattern observes the column, 0 where it misses it.
    counts : ndarray of int64, shape (G,)
        Rows with each pattern.
    """
    n, p = mask.shape
    pats = build_patterns(mask)
    blocks, counts = [], []
    if pats.complete_rows.size:
        blocks.append(np.ones((1, p), dtype=np.int64))
        counts.append(np.array([pats.complete_rows.size], dtype=np.int64))
    for g in pats.groups:
        obs = np.ones((g.n_patterns, p), dtype=np.int64)
        obs[np.arange(g.n_patterns)[:, None], g.miss] = 0
        blocks.append(obs)
        counts.append(np.asarray(g.counts, dtype=np.int64))
    observed = np.concatenate(blocks) if blocks else np.ones((0, p), dtype=np.int64)
    count = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
    n_miss = p - observed.sum(axis=1)
    # np.lexsort: the last key is the primary one. Primary: count descending; then fewer
    # missing first; then column 0 observed before missing, then column 1, ...
    keys = [-observed[:, j] for j in range(p - 1, -1, -1)] + [n_miss, -count]
    order = np.lexsort(keys)
    return observed[order], count[order]


def patterns(data: pd.DataFrame | Any, columns: Sequence[Hashable] | None = None) -> PatternTable:
    """The missingness pattern table of ``data`` (as mice's ``md.pattern``, sorted by count).

    Parameters
    ----------
    data : DataFrame or 2-D array-like, shape (n, k)
        Missing cells are NaN, None or ``pd.NA``. Numeric columns are tabulated, others
        are listed as ``passthrough`` (the columns :func:`imputer.impute` would model).
        A single row, a column with every cell missing and a table with no missing cell
        are all fine here.
    columns : sequence of labels, optional
        Columns to tabulate (numeric, in this order); default: every numeric column.

    Returns
    -------
    PatternTable
        ``table`` (one row per pattern: 1 observed / 0 missing per column, ``count``,
        ``n_missing``), ``column_missing``, ``summary()``, ``to_dict()``.

    Raises
    ------
    ImputerTypeError
        ``data`` is not tabular or has no numeric column; a column in ``columns`` is not
        numeric; ``data`` is a Dask DataFrame (in memory only: pass ``ddf.compute()``).
    ImputerValueError
        Empty data, duplicate column names, an unknown or repeated name in ``columns``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import imputer
    >>> df = pd.DataFrame({"a": [1.0, np.nan, 3.0, np.nan], "b": [1.0, 2.0, np.nan, 4.0]})
    >>> imputer.patterns(df).table  # doctest: +NORMALIZE_WHITESPACE
             a  b  count  n_missing
    pattern
    0        0  1      2          1
    1        1  1      1          0
    2        1  0      1          1
    """
    refuse_dask(data, "imputer.patterns")
    frame, chosen = select(data, columns)
    n, p = frame.shape[0], len(chosen)
    mask = np.empty((n, p), dtype=bool, order="F")
    for j, c in enumerate(chosen):
        mask[:, j] = np.isnan(float_values(frame[c]))
    observed, count = pattern_matrix(mask)
    labels = pd.Index(chosen, tupleize_cols=False)
    n_miss = (p - observed.sum(axis=1)).astype(np.int64)
    table = pd.DataFrame(
        np.column_stack([observed, count, n_miss]),
        index=pd.RangeIndex(observed.shape[0], name="pattern"),
        columns=pd.Index([*chosen, "count", "n_missing"], tupleize_cols=False),
    )
    column_missing = pd.Series(mask.sum(axis=0).astype(np.int64), index=labels, name="n_missing")
    modelled = set(chosen)
    return PatternTable(
        table=table,
        column_missing=column_missing,
        columns=tuple(chosen),
        passthrough=tuple(c for c in frame.columns if c not in modelled),
        n_rows=int(n),
    )
