"""The missingness pattern matrix as a picture (mice's ``md.pattern``, naniar's ``vis_miss`` by pattern).

One row per distinct pattern of observed/missing cells over the columns, most frequent
first, one column per variable: a cell is blue where the variable is observed and
vermillion where it is missing. The right axis gives each pattern's number of rows, the
left its number of missing cells, the top each column's number of missing cells. Only
the ``top`` most frequent patterns are drawn (50 by default); the title says how many
more there are and how many rows they hold.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from imputer.diagnostics.patterns import PatternTable
from imputer.diagnostics.patterns import patterns as pattern_table
from imputer.errors import ImputerValueError
from imputer.plot._mpl import MISSING, OKABE_ITO, figure_of, label, new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["patterns"]

#: observed cells (a lighter blue than the lines of the other figures, for contrast with vermillion)
_OBSERVED_CELL = OKABE_ITO["sky blue"]
#: above this many columns (rows) the names (counts) are not written on the axes
_MAX_LABELS = 60


def patterns(data: pd.DataFrame | PatternTable, *, columns: Sequence[Hashable] | None = None, top: int = 50,
             ax: Axes | None = None) -> Figure:
    """The missingness patterns of a table, drawn as a matrix with their counts.

    Parameters
    ----------
    data : DataFrame or 2-D array-like, shape (n, k), or PatternTable
        The table (not modified), or its :func:`imputer.patterns` table (then
        ``columns`` must be None).
    columns : list of labels, optional
        Numeric columns whose patterns are drawn, as :func:`imputer.patterns` takes
        them (default: every numeric column).
    top : int, default 50
        Draw the ``top`` most frequent patterns; the title says how many more there are.
    ax : matplotlib Axes, optional
        Draw into this axes; default a new figure with one axes.

    Returns
    -------
    matplotlib.figure.Figure
        One axes holding a ``min(top, G) x p`` image (``G`` patterns, ``p`` columns),
        column names below, missing totals per column on top, rows per pattern on the
        right, missing cells per pattern on the left. A table with no missing cell
        gives one all-blue row and a title that says so.

    Raises
    ------
    ImputerTypeError, ImputerValueError
        As :func:`imputer.patterns` (not a table, unknown or non-numeric column), or
        ``top`` not a positive integer, or ``columns`` with a PatternTable.
    """
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ImputerValueError(f"top must be a positive integer, got {top!r}")
    if isinstance(data, PatternTable):
        if columns is not None:
            raise ImputerValueError("patterns: columns must be None when data is a PatternTable")
        tab = data
    else:
        tab = pattern_table(data, columns)
    table, column_missing = tab.table, tab.column_missing
    p = len(tab.columns)
    n_patterns = len(table)
    shown = table.iloc[: int(top)]
    # the last two columns are count and n_missing (a variable may itself be called "count")
    matrix = shown.iloc[:, :p].to_numpy(dtype=float)
    counts = shown.iloc[:, -2].to_numpy()
    n_miss = shown.iloc[:, -1].to_numpy()
    cols = list(tab.columns)
    g = len(shown)
    if ax is None:
        fig = new_figure("patterns", min(3.0 + 0.45 * p, 16.0), min(2.2 + 0.22 * g, 14.0))
        ax = fig.add_subplot()
    else:
        fig = figure_of(ax, "patterns")
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    ax.imshow(matrix, cmap=ListedColormap([MISSING, _OBSERVED_CELL]), vmin=0.0, vmax=1.0, aspect="auto",
              interpolation="nearest")
    # white lines between cells
    ax.set_xticks(np.arange(p + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(g + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.0 if max(p, g) <= _MAX_LABELS else 0.0)
    ax.tick_params(which="minor", length=0)
    names = [label(c) for c in cols]
    rows = np.arange(g)
    if p <= _MAX_LABELS:
        ax.set_xticks(np.arange(p), names, rotation=45 if max(map(len, names), default=0) > 4 else 0, ha="right"
                      if max(map(len, names), default=0) > 4 else "center")
        top_axis = ax.secondary_xaxis("top")
        top_axis.set_xticks(np.arange(p), [f"{int(v):,}" for v in column_missing.to_numpy()])
        top_axis.set_xlabel("missing cells per column")
    else:
        ax.set_xticks([])
    if g <= _MAX_LABELS:
        ax.set_yticks(rows, [str(int(v)) for v in n_miss])
        right = ax.secondary_yaxis("right")
        right.set_yticks(rows, [f"{int(v):,}" for v in counts])
        right.set_ylabel("rows with the pattern")
    else:
        ax.set_yticks([])
    ax.set_xlabel(f"column ({p})")
    ax.set_ylabel("missing cells in the pattern")
    n_rows = tab.n_rows
    total = int(column_missing.sum())
    if total == 0:
        head = f"No missing cells: {n_rows:,} rows, all {p} column{'s' if p != 1 else ''} observed"
    else:
        head = (f"Missingness patterns: {n_patterns:,} pattern{'s' if n_patterns != 1 else ''}, "
                f"{total:,} missing of {n_rows * p:,} cells")
    if n_patterns > g:
        rest = int(table.iloc[g:, -2].sum())
        head += f"\nthe {g} most frequent shown; {n_patterns - g:,} more patterns ({rest:,} rows) not shown"
    ax.set_title(head, fontsize="medium")
    ax.legend(handles=[Patch(color=_OBSERVED_CELL, label="observed"), Patch(color=MISSING, label="missing")],
              loc="upper left", bbox_to_anchor=(1.0 if g > _MAX_LABELS else 1.12, 1.0), fontsize="small",
              frameon=False)
    return fig
