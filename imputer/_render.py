"""Plain-text rendering for ``summary()`` methods.

Numbers stay numbers in the result objects; this module only turns labelled
pandas objects and (label, value) pairs into aligned text at the last moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["render_title", "render_fields", "render_table", "format_value"]


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
