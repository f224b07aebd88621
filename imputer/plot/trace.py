r"""How EM converged: the objective per accepted iterate, its increments and the parameter change.

EM (and SQUAREM with its safeguard) never decreases its objective ``L``: the
log-likelihood, the log-posterior under a ridge prior, or the restricted
log-likelihood of a REML mixed model. The run's :class:`~imputer._em.trace.EMTrace`
records ``L(x_0) <= L(x_1) <= ... <= L(x_K)`` at the accepted iterates (first panel)
and the parameter change of each iteration's EM update, the measure compared with
``tol`` (third panel, log scale, with ``tol`` drawn: the run converged where it falls
below). The second panel draws

* the increase ``L(x_{k+1}) - L(x_k)`` at each step, and
* the gap ``L(x_K) - L(x_k)`` to the last recorded value,

both on a log scale, where EM's linear convergence shows as a straight line whose slope
is the log of the rate (the fraction of missing information), and SQUAREM's as a
steeper, bumpier one. Zero increments (the objective did not move at double precision)
cannot be drawn on a log scale and are left out; the panel says how many.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from imputer.errors import ImputerTypeError
from imputer.mixed.result import MixedResult
from imputer.mvn.result import ImputeResult
from imputer.plot._mpl import OBSERVED, OKABE_ITO, check_fig, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["trace", "objective_name"]

_STOP = {
    "converged": "converged",
    "max_iter": "stopped at max_iter",
    "singular": "covariance heading to singular",
    "stopped": "stopped by the caller",
    "infeasible": "infeasible start",
    "max_time": "stopped at max_time",
}


def objective_name(result: ImputeResult | MixedResult) -> str:
    """What ``result.loglik_history`` holds, in words (the y label of :func:`trace`)."""
    if isinstance(result, MixedResult):
        return "restricted log-likelihood" if result.method == "REML" else "log-likelihood"
    return "log-posterior" if result.ridge > 0 else "log-likelihood"


def trace(result: Any, *, fig: Figure | None = None) -> Figure:
    """The objective per accepted iterate, its increments and the parameter change on log scales.

    Parameters
    ----------
    result : ImputeResult, MixedResult or multiple-imputation result
        A fit from :func:`imputer.impute` or :func:`imputer.fit_mixed`/``fit_mixed_frame``
        (or an object whose ``em`` is an :class:`~imputer.ImputeResult`).
    fig : matplotlib Figure, optional
        Draw into this figure; default a new one.

    Returns
    -------
    matplotlib.figure.Figure
        Three axes side by side. Left: ``loglik_history`` (one point per accepted
        iterate, ``k`` points) against the iterate number, with the number of
        iterations, of EM evaluations and why the run stopped in the title. Middle, log
        scale: the step increases ``L_{k+1} - L_k`` and the gaps ``L_K - L_k`` (positive
        values only); with fewer than two iterates it says there is nothing to draw.
        Right, log scale: ``trace.changes`` (the parameter change of each iteration's
        EM update, in the units of ``tol``) against the iteration, and ``tol`` as a
        dashed line.
    """
    em = getattr(result, "em", None)
    if not isinstance(result, (ImputeResult, MixedResult)) and isinstance(em, ImputeResult):
        result = em
    if not isinstance(result, (ImputeResult, MixedResult)):
        raise ImputerTypeError(f"trace: result must be an ImputeResult or a MixedResult, got {type(result).__name__}")
    if fig is None:
        fig = new_figure("trace", 13.0, 3.4)
    else:
        check_fig(fig, "trace")
    history = np.asarray(result.loglik_history, dtype=float)
    name = objective_name(result)
    left, right, change_ax = fig.subplots(1, 3)
    steps = np.arange(history.size)
    left.plot(steps, history, marker="o", markersize=3, color=OBSERVED)
    left.set_xlabel("accepted iterate")
    left.set_ylabel(name)
    left.set_title(name, fontsize="medium")
    right.set_xlabel("accepted iterate")
    right.set_ylabel(f"{name} increase (log scale)")
    right.set_title("progress", fontsize="medium")
    if history.size >= 2:
        inc = np.diff(history)
        gap = history[-1] - history[:-1]
        for values, colour, what, marker in ((inc, OKABE_ITO["vermillion"], "step increase  L(k+1) - L(k)", "o"),
                                             (gap, OKABE_ITO["bluish green"], "gap to last  L(K) - L(k)", "s")):
            keep = np.isfinite(values) & (values > 0)
            ax_steps = steps[1:] if marker == "o" else steps[:-1]
            right.plot(ax_steps[keep], values[keep], marker=marker, markersize=3, linestyle="-", color=colour,
                       label=what)
        right.set_yscale("log")
        zero = int(np.sum(~(inc > 0)))
        if zero:
            right.text(0.98, 0.98, f"{zero} zero step{'s' if zero != 1 else ''} not shown", transform=right.transAxes,
                       ha="right", va="top", fontsize="x-small")
        right.legend(fontsize="x-small", frameon=False, loc="lower left")
    else:
        right.text(0.5, 0.5, "fewer than two iterates:\nno change to draw", ha="center", va="center",
                   transform=right.transAxes)
    _changes(change_ax, np.asarray(result.trace.changes, dtype=float), float(result.tol))
    stop = _STOP.get(result.trace.stop_reason, result.trace.stop_reason)
    fig.suptitle(f"Convergence: {result.n_iter} iterations, {result.n_evals} EM evaluations, {stop}")
    return fig


def _changes(ax: Any, changes: np.ndarray, tol: float) -> None:
    """The parameter change per iteration (log scale) against ``tol``."""
    ax.set_xlabel("iteration")
    ax.set_ylabel("parameter change (log scale)")
    ax.set_title("parameter change vs tol", fontsize="medium")
    keep = np.isfinite(changes) & (changes > 0)
    if not keep.any():
        ax.text(0.5, 0.5, "no parameter change recorded", ha="center", va="center", transform=ax.transAxes)
        return
    its = np.arange(1, changes.size + 1)
    ax.plot(its[keep], changes[keep], marker="o", markersize=3, color=OKABE_ITO["blue"], label="change of the EM update")
    ax.axhline(tol, linestyle="--", color=OKABE_ITO["orange"], label=f"tol = {tol:g}")
    ax.set_yscale("log")
    ax.legend(fontsize="x-small", frameon=False, loc="lower left")
