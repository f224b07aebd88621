"""Categorical text columns read from delimited text (the CLI and the service): which cells are missing.

The readers (:mod:`imputer._csv`) apply missing-value markers to the columns of numbers
only and keep every other cell's text, an empty cell as ``""``. A text column listed as
categorical has its empty cells, and the cells equal to a ``na_values`` marker, missing
(None); any other text is a level. Imported without NumPy or pandas (pandas on call).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["categorical_missing"]


def categorical_missing(frame: Any, categorical: Any, na_values: Sequence[str]) -> Any:
    """``frame`` (not modified) with the empty and marker cells of the listed text columns as missing.

    Returns ``frame`` itself when no listed column is text.
    """
    import pandas as pd

    if not isinstance(categorical, list):
        return frame
    markers = {"", *na_values}
    text = [c for c in categorical if c in frame.columns and not pd.api.types.is_numeric_dtype(frame[c])]
    if not text:
        return frame
    out = frame.copy()
    for c in text:
        col = out[c].astype(object)
        out[c] = col.where(~col.isin(markers), None)
    return out
