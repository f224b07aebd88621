"""Plain-text rendering for ``summary()`` methods.

Numbers stay numbers in the result objects; this module only turns labelled
pandas objects and (label, value) pairs into aligned text at the last moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["render_title", "render_fields", "render_table", "format_value", "names", "stop_text", "run_fields"]

#: Why an EM run stopped, in words: the reasons every engine's driver can give
#: (:attr:`imputer._em.EMTrace.stop_reason`); an engine whose wording differs passes overrides.
STOP_TEXT: dict[str, str] = {
    "converged": "converged (parameter change <= tol)",
    "max_iter": "iteration limit (max_iter) reached",
    "singular": "covariance heading to singular (no maximum; try ridge > 0)",
    "stopped": "stopped by the callback",
    "max_time": "time limit (max_time) reached",
}

_SHOW_NAMES = 10


def format_value(value: Any, digits: int = 6) -> str:
    """Render one value: floats to ``digits`` significant digits, NaN as ``nan``."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not np.isfinite(v):
            return str(v)
        return f"{v:.{digits}g}"
    return str(value)


def render_title(text: str) -> str:
    """A title underlined with ``=``."""
    return f"{text}\n{'=' * len(text)}"


def render_fields(fields: Iterable[tuple[str, Any]], digits: int = 6) -> str:
    """Aligned ``label: value`` lines."""
    pairs = [(str(k), format_value(v, digits)) for k, v in fields]
    if not pairs:
        return ""
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in pairs)


def render_table(table: pd.DataFrame | pd.Series, digits: int = 6) -> str:
    """A labelled Series or DataFrame as an aligned text table."""
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    cells = frame.map(lambda v: format_value(v, digits))
    return cells.to_string()


def names(labels: tuple[Hashable, ...]) -> str:
    """``"none"``, or the count and the first names: ``"2 (Month, Day)"``."""
    if not labels:
        return "none"
    shown = ", ".join(map(str, labels[:_SHOW_NAMES]))
    more = f", ... ({len(labels) - _SHOW_NAMES} more)" if len(labels) > _SHOW_NAMES else ""
    return f"{len(labels)} ({shown}{more})"


def stop_text(reason: str, **overrides: str) -> str:
    """Why a run stopped, in words (:data:`STOP_TEXT`, with per-engine ``overrides``)."""
    return overrides.get(reason) or STOP_TEXT.get(reason, reason)


def run_fields(result: Any, **overrides: str) -> list[tuple[str, Any]]:
    """The summary lines every EM result shares: iterations, evaluations, convergence, why it stopped.

    ``result`` has ``n_iter``, ``n_evals``, ``converged`` and ``trace.stop_reason``;
    ``overrides`` reword :data:`STOP_TEXT` entries for one engine.
    """
    return [
        ("iterations", result.n_iter),
        ("EM evaluations", result.n_evals),
        ("converged", result.converged),
        ("stopped because", stop_text(result.trace.stop_reason, **overrides)),
    ]
