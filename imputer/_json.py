"""JSON-ready conversion of results: plain Python values, non-finite floats as None.

Shared by the results' ``to_dict()`` methods, whose output the REST service returns
as it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["json_value", "json_key", "json_labels", "split_frame", "square_frame", "finite_or_none"]


def json_value(value: Any) -> Any:
    """One cell or label as a JSON-ready Python value (non-finite floats -> None)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, (pd.Timestamp, pd.Timedelta)):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return [json_value(v) for v in value]
    return str(value)


def json_labels(labels: Any) -> list[Any]:
    """Index or column labels as a JSON-ready list."""
    return [json_value(v) for v in labels]


def json_key(label: Hashable) -> str:
    """A column label as a JSON object key (the keys of ``mean`` and ``n_missing``).

    A string stays as it is; a tuple (a ``MultiIndex`` column) becomes the JSON text of
    its entry in ``columns``, e.g. ``('x', 1)`` -> ``'["x", 1]'`` (unambiguous and
    parseable back with ``json.loads``); any other label is ``str`` of its JSON value
    (``1`` -> ``'1'``, ``1.5`` -> ``'1.5'``).
    """
    value = json_value(label)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return json.dumps(value, allow_nan=False)
    return str(value)


def split_frame(frame: pd.DataFrame) -> dict[str, Any]:
    """``{"columns", "index", "data"}`` (pandas split orientation), JSON-ready."""
    cols = [frame.iloc[:, k] for k in range(frame.shape[1])]
    converted = []
    for col in cols:
        if col.dtype == np.float64:
            arr = col.to_numpy()
            vals = arr.tolist()
            if not np.isfinite(arr).all():
                vals = [v if math.isfinite(v) else None for v in vals]
            converted.append(vals)
        else:
            converted.append([json_value(v) for v in col.tolist()])
    data = [list(row) for row in zip(*converted)] if converted else [[] for _ in range(frame.shape[0])]
    return {"columns": json_labels(frame.columns), "index": json_labels(frame.index), "data": data}


def square_frame(frame: pd.DataFrame) -> dict[str, Any]:
    """``{"columns", "data"}`` of a numeric (square) matrix, JSON-ready."""
    return {
        "columns": json_labels(frame.columns),
        "data": [[json_value(v) for v in row] for row in frame.to_numpy(dtype=float).tolist()],
    }



def finite_or_none(x: Any) -> float | None:
    """``float(x)``, or None when it is not finite."""
    v = float(x)
    return v if math.isfinite(v) else None
