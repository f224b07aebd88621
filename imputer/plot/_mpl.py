"""Matplotlib without global state: lazy import, new figures, the palette (private).

Every figure of :mod:`imputer.plot` is a :class:`matplotlib.figure.Figure` built through
the object-oriented API (no ``pyplot``, no current figure), so figures can be made in
several threads at once (the service) and never open a window. Matplotlib is an optional
dependency (the ``plot`` extra): it is imported here, on the first call of a plot
function, never by ``import imputer`` or ``import imputer.plot``.

Colours are Okabe and Ito's (2008) palette, distinguishable under the common forms of
colour-blindness.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from imputer.errors import ImputerTypeError, MissingDependencyError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

__all__ = ["COMPONENTS", "OKABE_ITO", "OBSERVED", "IMPUTED", "MISSING", "OUTSIDE", "axes_grid", "check_fig", "figure_of", "label",
           "message_figure", "new_figure", "require_matplotlib"]

#: Okabe-Ito colours by name.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}
#: observed values / cells
OBSERVED = OKABE_ITO["blue"]
#: imputed values (the conditional means, or one imputation of several)
IMPUTED = OKABE_ITO["vermillion"]
#: missing cells in the pattern matrix
MISSING = OKABE_ITO["vermillion"]
#: observed values outside their predictive interval
OUTSIDE = OKABE_ITO["orange"]
#: mixture components, in order (cycled), apart from the observed/imputed colours
COMPONENTS = tuple(OKABE_ITO[c] for c in ("bluish green", "reddish purple", "orange", "sky blue", "black", "yellow"))


def require_matplotlib(function: str) -> None:
    """Import matplotlib, or raise :class:`MissingDependencyError` naming the extra."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f"imputer.plot.{function} needs matplotlib, which is not installed ({exc}); "
            'install it with: pip install "imputer[plot]"'
        ) from None


def new_figure(function: str, width: float, height: float) -> Figure:
    """A new :class:`Figure` (constrained layout) of ``width x height`` inches."""
    require_matplotlib(function)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure_of(ax: Any, function: str) -> Figure | SubFigure:
    """The figure holding ``ax``, after checking that ``ax`` is a matplotlib Axes."""
    require_matplotlib(function)
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise ImputerTypeError(f"{function}: ax must be a matplotlib Axes, got {type(ax).__name__}")
    return ax.figure


def check_fig(fig: Any, function: str) -> None:
    """Raise unless ``fig`` is a matplotlib Figure or SubFigure."""
    require_matplotlib(function)
    from matplotlib.figure import FigureBase

    if not isinstance(fig, FigureBase):
        raise ImputerTypeError(f"{function}: fig must be a matplotlib Figure, got {type(fig).__name__}")


def axes_grid(fig: Figure | SubFigure | None, n: int, function: str, *, panel: tuple[float, float] = (3.6, 3.0),
              max_cols: int = 3) -> tuple[Figure | SubFigure, list[Axes]]:
    """``n`` axes on a grid of at most ``max_cols`` columns (exactly ``n``: no empty cells).

    A new figure sized ``panel`` inches per cell when ``fig`` is None; otherwise the axes
    are added to ``fig``.
    """
    ncols = max(1, min(max_cols, n))
    nrows = max(1, math.ceil(n / ncols))
    if fig is None:
        fig = new_figure(function, panel[0] * ncols, panel[1] * nrows)
    else:
        check_fig(fig, function)
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n)]
    return fig, axes


def message_figure(fig: Figure | SubFigure | None, function: str, title: str, text: str) -> Figure | SubFigure:
    """A figure with one blank axes saying why there is nothing to draw."""
    if fig is None:
        fig = new_figure(function, 5.0, 2.0)
    else:
        check_fig(fig, function)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    return fig


def label(name: Any) -> str:
    """A column label as text for an axis (tuples joined by ``/``)."""
    if isinstance(name, tuple):
        return " / ".join(map(str, name))
    return str(name)
