r"""EM runs from overdispersed starts (:func:`imputer.disperse`): how each climbed, where each ended.

Amelia's ``disperse`` draws each run's path along the first principal component of the
parameters. Here the two questions are drawn directly, in the units that decide them:

* left, each run's gap below the best end point, ``L* - L(x_k)`` at its accepted iterates
  (log scale), ``L*`` the best run's final objective: runs that reach the best point fall
  to the rounding floor; a run stuck at a saddle point or a lower maximum levels off
  above it, at its ``gap``;
* right, each run's distance from the best run's estimate (standard-deviation units, log
  scale) against ``atol``: runs below the line ended at the best point.

Runs are coloured by the end point they reached (grey: did not converge); run 1, the
engine's own start, is drawn thicker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from imputer.diagnostics.dispersion import Dispersion
from imputer.errors import ImputerTypeError
from imputer.plot._mpl import COMPONENTS, OKABE_ITO, check_fig, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["disperse"]

#: gaps and distances below this (relative to ``max(1, |L*|)`` for gaps) are drawn at it
FLOOR = 1e-13
_UNCONVERGED = "#999999"


def _colour(point: int) -> str:
    return _UNCONVERGED if point == 0 else COMPONENTS[(point - 1) % len(COMPONENTS)]


def disperse(result: Dispersion, *, fig: Figure | None = None) -> Figure:
    """The runs' gaps below the best end point by iterate, and their end points' distances from it.

    Parameters
    ----------
    result : Dispersion
        From :func:`imputer.disperse`.
    fig : matplotlib Figure, optional
        Draw into this figure; default a new one.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes (module docstring). Left: one line per run, ``L* - L(x_k)`` against the
        accepted iterate ``k`` (log scale, values below ``1e-13 max(1, |L*|)`` drawn at
        that floor). Right: one marker per run at its distance from the best estimate
        (log scale, the same floor), with ``atol`` dashed. The title gives the number of
        distinct end points (and of runs that did not converge).
    """
    if not isinstance(result, Dispersion):
        raise ImputerTypeError(f"disperse: result must be a Dispersion (imputer.disperse), got {type(result).__name__}")
    if fig is None:
        fig = new_figure("disperse", 11.0, 3.8)
    else:
        check_fig(fig, "disperse")
    runs = result.runs
    histories = result.histories
    best_obj = float(runs.loc[result.best, "objective"])
    floor = FLOOR * max(1.0, abs(best_obj))
    name = "log-posterior" if result.ridge > 0 else "log-likelihood"
    left, right = fig.subplots(1, 2)
    for run, row in runs.iterrows():
        gap = np.maximum(best_obj - histories[run], floor)
        engine = run == 1
        colour = _colour(int(row["point"]))
        left.plot(np.arange(gap.size), gap, color=colour, linewidth=2.2 if engine else 1.0, zorder=3 if engine else 2,
                  label=f"run {run}{' (engine start)' if engine else ''}: point {int(row['point']) or '-'}")
        left.plot([gap.size - 1], [gap[-1]], marker="o", markersize=6 if engine else 4, color=colour, zorder=4)
    left.set_yscale("log")
    left.set_xlabel("accepted iterate")
    left.set_ylabel(f"gap below best {name} (log)")
    left.set_title("climb of each run", fontsize="medium")
    if len(runs) <= 12:
        left.legend(fontsize="x-small", frameon=False, loc="upper right")
    dist = np.maximum(runs["distance"].to_numpy(dtype=float), FLOOR)
    colours = [_colour(int(p)) for p in runs["point"]]
    right.scatter(runs.index.to_numpy(), dist, c=colours, s=[60 if r == 1 else 30 for r in runs.index], zorder=3)
    right.axhline(result.atol, linestyle="--", color=OKABE_ITO["orange"], label=f"atol = {result.atol:g}")
    right.set_yscale("log")
    right.set_xticks(runs.index.to_numpy())
    right.set_xlabel("run")
    right.set_ylabel("distance from best (SD units, log)")
    right.set_title("where each run ended", fontsize="medium")
    right.legend(fontsize="x-small", frameon=False, loc="upper right")
    n_conv = int(runs["converged"].sum())
    verdict = "one end point" if result.unique else f"{result.n_points} distinct end points"
    if n_conv < len(runs):
        verdict += f", {len(runs) - n_conv} run(s) not converged"
    fig.suptitle(f"EM from {len(runs)} starts: {verdict}")
    return fig
