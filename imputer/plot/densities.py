r"""Observed against imputed distributions, one panel per incomplete column.

For column ``j`` the panel draws Gaussian kernel density estimates (Scott's bandwidth,
:class:`scipy.stats.gaussian_kde`)

.. math::

    \hat f(x) = \frac{1}{n h}\sum_{i=1}^{n} \phi\Big(\frac{x - x_i}{h}\Big)

of the observed values of ``j`` and of its imputed values: the conditional means for a
single EM fit (narrower than the observed distribution by construction: a conditional
mean has variance ``Var(x_j) - E Var(x_j | x_O)``), one line per imputation for a
multiple imputation (Amelia's ``compare.density``, mice's ``densityplot``). Under MCAR
the two should look alike; under MAR they may differ legitimately, and a large
difference is a prompt to look, not a proof of a bad model. Fewer than two distinct
values cannot carry a density: they are drawn as a rug of ticks.

For a Gaussian-mixture fit (:func:`imputer.impute_mixture`, or a multiple imputation
under it) the imputed values are also drawn as a rug along the bottom, one colour per
mixture component: each filled cell at its row's most probable component
(``result.labels``), so a fill between two clusters shows which component it leans on.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from imputer.plot._inputs import as_fit, pick_columns
from imputer.plot._mpl import COMPONENTS, IMPUTED, OBSERVED, axes_grid, label, message_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["densities"]

_GRID = 200


def _kde_line(ax: Axes, values: np.ndarray, grid: np.ndarray, **style: Any) -> None:
    """A KDE of ``values`` over ``grid``, or a rug when they cannot carry one."""
    from scipy.stats import gaussian_kde

    values = values[np.isfinite(values)]
    if np.unique(values).size >= 2:
        ax.plot(grid, gaussian_kde(values)(grid), **style)
    elif values.size:
        style = {k: v for k, v in style.items() if k in ("color", "label", "alpha")}
        ax.plot(values, np.zeros_like(values), linestyle="none", marker="|", markersize=14, **style)


def _component_rugs(ax: Axes, labels: np.ndarray, imputed: list[np.ndarray]) -> None:
    """The imputed values as ticks at y = 0, one colour (and legend entry) per mixture component."""
    for k in np.unique(labels):
        rows = labels == k
        values = np.concatenate([v[rows] for v in imputed])
        ax.plot(
            values, np.zeros_like(values), linestyle="none", marker="|", markersize=10,
            color=COMPONENTS[int(k) % len(COMPONENTS)], label=f"component {int(k)} (n={int(rows.sum()):,})",
        )


def densities(result: Any, *, columns: Sequence[Hashable] | None = None, fig: Figure | None = None) -> Figure:
    """Observed vs imputed distributions of each incomplete column.

    Parameters
    ----------
    result : ImputeResult, TImputeResult, MixtureImputeResult or multiple-imputation result
        A fit from :func:`imputer.impute`, :func:`imputer.impute_t` or
        :func:`imputer.impute_mixture`, or any object with ``imputations`` (completed
        DataFrames) and ``em`` (one of those fits), drawn with one line per imputation.
    columns : list of labels, optional
        Modelled columns to draw (default: every column with a missing cell). A
        passed-through or unknown label raises :class:`~imputer.ImputerValueError`.
    fig : matplotlib Figure, optional
        Draw into this figure (its axes are added); default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per column drawn (at most 3 per row), x labelled by the column name
        (its units), y "density"; the observed density in blue, imputed in vermillion
        (one thin line per imputation for a multiple imputation); for a mixture, a rug
        of the imputed values per component (labelled ``component k (n=...)``, the
        count of filled cells). When no column has a missing cell, a single blank axes
        that says so.
    """
    fit = as_fit(result, "densities")
    cols = pick_columns(fit, columns, "densities")
    if not cols:
        return message_figure(fig, "densities", "Observed vs imputed", "No missing cells: nothing was imputed.")
    fig, axes = axes_grid(fig, len(cols), "densities")
    m = len(fit.imputations)
    for k, (ax, col) in enumerate(zip(axes, cols, strict=True)):
        miss = fit.missing[col].to_numpy()
        observed = fit.observed(col)
        imputed = [t[col].to_numpy(dtype=float, na_value=np.nan)[miss] for t in fit.imputations]
        every = np.concatenate([observed, *imputed])
        every = every[np.isfinite(every)]
        lo, hi = (float(every.min()), float(every.max())) if every.size else (0.0, 1.0)
        pad = 0.1 * (hi - lo) if hi > lo else 1.0
        grid = np.linspace(lo - pad, hi + pad, _GRID)
        _kde_line(ax, observed, grid, color=OBSERVED, linewidth=2.0, label=f"observed (n={observed.size:,})")
        what = f"imputed, {m} imputations" if fit.multiple else "imputed (conditional means)"
        for i, values in enumerate(imputed):
            _kde_line(
                ax, values, grid, color=IMPUTED, linewidth=1.0 if fit.multiple else 2.0,
                alpha=0.6 if fit.multiple else 1.0, label=f"{what} (n={values.size:,})" if i == 0 else None,
            )
        if fit.components is not None:
            _component_rugs(ax, fit.components.to_numpy()[miss], imputed)
        name = label(col)
        ax.set_xlabel(name)
        ax.set_ylabel("density")
        ax.set_title(f"{name}: {int(miss.sum()):,} imputed", fontsize="medium")
        if k == 0:
            ax.legend(fontsize="x-small", frameon=False, loc="best")
    fig.suptitle("Observed and imputed distributions")
    return fig
