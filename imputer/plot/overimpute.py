r"""Overimputation (Amelia's ``overimpute``): predict every observed cell from the rest of its row.

For an observed cell ``x_ij`` of column ``j``, let ``O`` be the other observed cells of
row ``i``. At the estimate ``(mu, Sigma)`` of the fit, pretending ``x_ij`` were missing,

.. math::

    \hat x_{ij} = \mu_j + \Sigma_{jO}\Sigma_{OO}^{-1}(x_{iO} - \mu_O),\qquad
    s^2_{ij} = \Sigma_{jj} - \Sigma_{jO}\Sigma_{OO}^{-1}\Sigma_{Oj},

and the ``level`` predictive interval is ``x_hat +- z s`` with ``z = Phi^{-1}((1 + level)/2)``
(1.645 for 90%). If the model fits, about ``level`` of the observed values fall inside
their intervals; the share that does (the *coverage*) is printed on each panel. A row
with no other observed cell is predicted by ``mu_j`` with the marginal variance.

The predictions are vectorised by missingness pattern: for column ``j``, the rows where
``j`` is observed are passed, with ``j`` blanked, to
:func:`imputer.mvn.conditional.fill_conditional` (the engine's kernels). The estimate
was fitted with these cells in the data, so the check is in-sample, as Amelia's is.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mvn.result import ImputeResult
from imputer.mvn.conditional import fill_conditional
from imputer.plot._inputs import as_fit, pick_columns
from imputer.plot._mpl import OBSERVED, OUTSIDE, axes_grid, label, message_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["overimpute", "overimpute_table"]


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < float(level) < 1.0:
        raise ImputerValueError(f"level must be a number strictly between 0 and 1, got {level!r}")
    return float(level)


def overimpute_table(result: Any, *, columns: Sequence[Hashable] | None = None, level: float = 0.9) -> pd.DataFrame:
    """The numbers behind :func:`overimpute`: one row per observed cell of the columns checked.

    Parameters
    ----------
    result : ImputeResult or multiple-imputation result
        A fit from :func:`imputer.impute` (or an object with ``em``, its fit).
    columns : list of labels, optional
        Modelled columns to check (default: every column with a missing cell).
    level : float, default 0.9
        Coverage of the predictive intervals, in (0, 1).

    Returns
    -------
    DataFrame, shape (n_cells, 7)
        Indexed by the input's row labels (repeated across columns), with columns
        ``column`` (the label), ``observed``, ``predicted`` (``x_hat``), ``sd`` (``s``),
        ``lower``, ``upper`` (the interval) and ``inside`` (bool, ``lower <= observed <= upper``),
        the columns in the order given, rows in the input's order within a column.
    """
    return _table(result, columns, level, "overimpute_table")


def _table(result: Any, columns: Sequence[Hashable] | None, level: float, function: str) -> pd.DataFrame:
    from scipy.stats import norm

    level = _check_level(level)
    fit = as_fit(result, function)
    if not isinstance(fit.em, ImputeResult):
        raise ImputerTypeError(
            f"{function}: overimputation predicts from the multivariate normal's mean and covariance; got a "
            f"{type(fit.em).__name__} (use imputer.impute's result)"
        )
    cols = pick_columns(fit, columns, function)
    em = fit.em
    modelled = list(em.columns)
    values = fit.with_missing()
    mean = em.mean.to_numpy(dtype=float)
    cov = em.cov.to_numpy(dtype=float)
    z = float(norm.ppf(0.5 + level / 2.0))
    parts = []
    for col in cols:
        j = modelled.index(col)
        rows = np.flatnonzero(~np.isnan(values[:, j]))
        sub = values[rows]
        observed = sub[:, j].copy()
        sub[:, j] = np.nan
        filled, var = fill_conditional(sub, mean, cov)
        pred, sd = filled[:, j], np.sqrt(var[:, j])
        lower, upper = pred - z * sd, pred + z * sd
        parts.append(
            pd.DataFrame(
                {
                    "column": pd.Series([col] * rows.size, dtype=object),
                    "observed": observed,
                    "predicted": pred,
                    "sd": sd,
                    "lower": lower,
                    "upper": upper,
                    "inside": (lower <= observed) & (observed <= upper),
                },
            ).set_axis(em.completed.index[rows], axis=0)
        )
    if not parts:
        empty = {"column": pd.Series(dtype=object)} | {
            k: pd.Series(dtype=float) for k in ("observed", "predicted", "sd", "lower", "upper")
        }
        return pd.DataFrame(empty | {"inside": pd.Series(dtype=bool)}, index=em.completed.index[:0])
    return pd.concat(parts, axis=0)


def overimpute(result: Any, *, columns: Sequence[Hashable] | None = None, level: float = 0.9,
               max_points: int | None = 2000, fig: Figure | None = None) -> Figure:
    """Observed values against their predictions from the rest of the row, with intervals.

    Parameters
    ----------
    result : ImputeResult or multiple-imputation result
        A fit from :func:`imputer.impute` (or an object with ``em``, its fit).
    columns : list of labels, optional
        Modelled columns to check (default: every column with a missing cell).
    level : float, default 0.9
        Coverage of the predictive intervals.
    max_points : int or None, default 2000
        Draw at most this many cells per column (a fixed-seed random subset, so large
        tables stay quick and legible); the coverage is always over every cell. None
        draws them all.
    fig : matplotlib Figure, optional
        Draw into this figure; default a new one.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per column checked: each observed value (x) against its prediction
        (y) with its interval as a vertical bar, blue when the interval covers the
        value and orange when not, the line ``y = x``, and the coverage in the corner
        ("90% intervals cover 88.8% of 116"). When no column has a missing cell, a single
        blank axes that says so. The numbers are :func:`overimpute_table`'s.
    """
    if max_points is not None and (isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer))
                                   or max_points < 1):
        raise ImputerValueError(f"max_points must be a positive integer or None, got {max_points!r}")
    table = _table(result, columns, level, "overimpute")
    cols = list(dict.fromkeys(table["column"]))
    pct = f"{100 * level:g}%"
    if not cols:
        return message_figure(fig, "overimpute", "Overimputation", "No missing cells: nothing to check.")
    fig, axes = axes_grid(fig, len(cols), "overimpute", panel=(3.8, 3.6))
    for ax, col in zip(axes, cols, strict=True):
        t = table[table["column"] == col]
        coverage, n_cells = float(t["inside"].mean()), len(t)
        drawn = ""
        if max_points is not None and n_cells > max_points:
            keep_rows = np.sort(np.random.default_rng(0).choice(n_cells, size=int(max_points), replace=False))
            t = t.iloc[keep_rows]
            drawn = f"\n({int(max_points):,} drawn at random)"
        x = t["observed"].to_numpy()
        y = t["predicted"].to_numpy()
        inside = t["inside"].to_numpy()
        for keep, colour, what in ((inside, OBSERVED, "interval covers"), (~inside, OUTSIDE, "interval misses")):
            if keep.any():
                err = np.vstack([y[keep] - t["lower"].to_numpy()[keep], t["upper"].to_numpy()[keep] - y[keep]])
                ax.errorbar(x[keep], y[keep], yerr=err, fmt="o", markersize=3, color=colour, ecolor=colour,
                            elinewidth=0.8, alpha=0.8, label=f"{what} ({int(keep.sum()):,})")
        lo = float(min(x.min(), t["lower"].min())) if x.size else 0.0
        hi = float(max(x.max(), t["upper"].max())) if x.size else 1.0
        ax.plot([lo, hi], [lo, hi], color="#000000", linewidth=1.0, linestyle="--", label="y = x")
        name = label(col)
        ax.set_xlabel(f"observed {name}")
        ax.set_ylabel(f"predicted {name}")
        ax.set_title(name, fontsize="medium")
        ax.text(0.03, 0.97, f"{pct} intervals cover {100 * coverage:.1f}% of {n_cells:,}{drawn}",
                transform=ax.transAxes, va="top", ha="left", fontsize="small",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
        ax.legend(fontsize="x-small", frameon=False, loc="best")
    fig.suptitle(f"Overimputation: each observed value predicted from the rest of its row ({pct} intervals)")
    return fig
