r"""Caterpillar plot of a mixed model's BLUPs with their prediction intervals.

For a random effect ``u ~ N(0, s2 K)`` of a fitted mixed model, each level's BLUP
``u_hat_l`` is drawn with the interval ``u_hat_l +- 1.96 sqrt(PEV_l)``, where
``PEV_l = Var(u_l - u_hat_l)`` is its prediction error variance (accounting for the
estimation of the fixed effects): an approximate 95% prediction interval for ``u_l``.
Levels are sorted by their BLUP, as lme4's ``dotplot(ranef(fit, condVar = TRUE))``
draws them, so levels whose interval excludes 0 stand out at the ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mixed.result import MixedResult
from imputer.plot._mpl import OBSERVED, OKABE_ITO, figure_of, new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["caterpillar"]

#: above this many levels the level names are not written on the axis
_MAX_LABELS = 60
Z95 = 1.96


def caterpillar(result: MixedResult, term: str, *, effect: str | None = None, ax: Axes | None = None) -> Figure:
    """BLUPs of one random effect, sorted, with ``+-1.96 sqrt(PEV)`` bars.

    Parameters
    ----------
    result : MixedResult
        A fit from :func:`imputer.fit_mixed` or :func:`imputer.fit_mixed_frame`.
    term : str
        The random effect, a key of ``result.u`` (e.g. ``"Batch"``).
    effect : str, optional
        For a term with several effects per level (lme4's ``(Days | Subject)``, whose
        ``u[term]`` is a levels x effects DataFrame): the effect to draw, a column of
        ``result.u[term]``; default its first (``"(Intercept)"``). Ignored otherwise.
    ax : matplotlib Axes, optional
        Draw into this axes; default a new figure with one axes.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: one point per level (``q`` points, sorted by BLUP, bottom to top) with
        a horizontal bar ``+-1.96 sqrt(PEV)``, a vertical line at 0; level names on the
        y axis when there are at most 60 levels.

    Raises
    ------
    ImputerTypeError
        ``result`` is not a :class:`~imputer.MixedResult`.
    ImputerValueError
        ``term`` is not one of its random effects, or ``effect`` not one of its effects.
    """
    if not isinstance(result, MixedResult):
        raise ImputerTypeError(f"caterpillar: result must be a MixedResult, got {type(result).__name__}")
    terms = list(result.u)
    if term not in terms:
        raise ImputerValueError(f"caterpillar: term {term!r} is not a random effect of the fit; terms: {terms}")
    fig = new_figure("caterpillar", 5.5, 1.2 + 0.18 * min(len(result.u[term]), 80)) if ax is None else None
    if ax is None:
        assert fig is not None
        ax = fig.add_subplot()
    else:
        fig = figure_of(ax, "caterpillar")
    u, pev, label = _effect(result, term, effect)
    order = np.argsort(u.to_numpy(), kind="stable")
    values = u.to_numpy()[order]
    half = Z95 * np.sqrt(np.clip(pev.to_numpy()[order], 0.0, None))
    pos = np.arange(values.size)
    ax.axvline(0.0, color=OKABE_ITO["black"], linewidth=0.8, linestyle="--")
    ax.errorbar(values, pos, xerr=half, fmt="o", markersize=3, color=OBSERVED, ecolor=OBSERVED, elinewidth=1.0)
    if values.size <= _MAX_LABELS:
        ax.set_yticks(pos, [str(v) for v in u.index[order]])
    else:
        ax.set_yticks([])
    ax.set_xlabel("BLUP, units of the response (bars: +-1.96 sqrt(PEV))")
    ax.set_ylabel(f"{term} level ({values.size:,}, sorted)")
    if label == term:
        sd = float(np.sqrt(result.var_comp[term])) if term in result.var_comp.index else float("nan")
    else:
        sd = float(np.sqrt(result.covariances[term].loc[label, label]))
        label = f"{term}: {label}"
    ax.set_title(f"Random effect {label}: sd {sd:.4g}", fontsize="medium")
    return fig


def _effect(result: MixedResult, term: str, effect: str | None) -> tuple[pd.Series, pd.Series, str]:
    """The BLUPs and PEVs of one effect of ``term`` (Series by level) and its label."""
    u, pev = result.u[term], result.pev[term]
    if isinstance(u, pd.Series):
        return u.astype(float), pev.reindex(u.index).astype(float), term
    columns = list(u.columns)
    chosen = columns[0] if effect is None else effect
    if chosen not in columns:
        raise ImputerValueError(f"caterpillar: effect {effect!r} is not an effect of term {term!r}; effects: {columns}")
    return u[chosen].astype(float), pev[chosen].reindex(u.index).astype(float), str(chosen)
