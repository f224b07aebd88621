"""JSON-ready conversion of results, and the one wire convention of every ``to_dict()``.

Both results (:class:`~imputer.mvn.result.ImputeResult`,
:class:`~imputer.mixed.result.MixedResult`) build their ``to_dict()`` from the helpers
here, and the REST service returns it as it is. The convention:

* **Values** are plain Python ``bool``/``int``/``float``/``str``/``None``
  (:func:`json_value`); a non-finite float is ``None`` (JSON has no NaN or infinity).
* **Labels in a list** (``columns``, ``index``, ``boundary``) are :func:`json_value` of
  the label: a string as it is, a number as a number, a tuple (a ``MultiIndex`` entry)
  as a list, a timestamp as ISO text.
* **Labels as object keys** are :func:`json_key` of the label: a string as it is, a
  tuple as the JSON text of its list (``'["x", 1]'``, parseable back), anything else as
  ``str`` of its JSON value (``1`` -> ``"1"``). One function for both results.
* **A vector labelled by parameters** (``mean``, ``n_missing``, ``var_comp``,
  ``beta``, each ``u[name]`` and ``pev[name]``) is an object ``{key: value}`` in label
  order (:func:`labelled_values`).
* **Per-row values carry the row labels**: a table is pandas' split orientation
  ``{"columns", "index", "data"}`` (:func:`split_frame`); per-row vectors (the mixed
  model's ``fitted``, ``completed``, ``residuals``) are lists aligned with a top-level
  ``"index"`` list (:func:`float_list`).
* **A square matrix** is ``{"columns", "data"}`` (:func:`square_frame`).
* **How the fit went** is ``"trace"`` (:meth:`imputer._em.trace.EMTrace.to_dict`), with
  the flat keys ``n_iter``, ``n_evals``, ``converged`` and ``loglik_history`` kept
  beside it; **the options the fit used** are ``"options"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable
from typing import Any, Literal

import numpy as np
import pandas as pd

from imputer.errors import ImputerValueError

__all__ = [
    "finite_or_none",
    "float_list",
    "json_key",
    "json_labels",
    "json_value",
    "keyed",
    "labelled_values",
    "split_frame",
    "square_frame",
    "Matrices",
    "wanted_matrices",
]

#: Which of the ``p x p`` matrices ``cov`` and ``corr`` a ``to_dict()`` writes out.
Matrices = Literal["both", "cov", "corr", "none"]
_MATRICES: dict[str, tuple[bool, bool]] = {
    "both": (True, True), "cov": (True, False), "corr": (False, True), "none": (False, False),
}


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
    """A label as a JSON object key (``mean``, ``n_missing``, ``var_comp``, ``u``, ... keys).

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


def wanted_matrices(matrices: Any) -> tuple[bool, bool]:
    """``(cov, corr)``: whether ``matrices`` (:data:`Matrices`) asks for each.

    Raises
    ------
    ImputerValueError
        ``matrices`` is not one of ``"both"``, ``"cov"``, ``"corr"``, ``"none"``.
    """
    if not isinstance(matrices, str) or matrices not in _MATRICES:
        raise ImputerValueError(f"matrices must be one of {', '.join(map(repr, _MATRICES))}; got {matrices!r}")
    return _MATRICES[matrices]


def square_frame(frame: pd.DataFrame) -> dict[str, Any]:
    """``{"columns", "data"}`` of a numeric (square) matrix, JSON-ready (non-finite -> None).

    By ``tolist`` with the non-finite cells replaced afterwards: a cell at a time through
    :func:`json_value` took 3 s for the two 2,000 x 2,000 matrices of a wide fit's answer.
    """
    a = frame.to_numpy(dtype=float)
    data = a.tolist()
    for i, j in zip(*np.nonzero(~np.isfinite(a))):
        data[i][j] = None
    return {"columns": json_labels(frame.columns), "data": data}


def labelled_values(series: pd.Series) -> dict[str, Any]:
    """``{json_key(label): json_value(value)}`` of a labelled vector, in label order.

    Parameters
    ----------
    series : Series, shape (k,)

    Returns
    -------
    dict of str -> JSON value, k entries

    Raises
    ------
    ImputerValueError
        Two labels become the same key (:func:`keyed`).
    """
    return keyed((k, json_value(v)) for k, v in zip(series.index, series.tolist()))


def keyed(items: Any) -> dict[str, Any]:
    """``{json_key(label): value}`` of ``(label, value)`` pairs, in their order.

    Raises
    ------
    ImputerValueError
        Two labels become the same key (``1`` and ``"1"``, ``True`` and ``"True"``):
        one value would silently replace the other.
    """
    out: dict[str, Any] = {}
    owner: dict[str, Hashable] = {}
    for label, value in items:
        key = json_key(label)
        if key in out:
            raise ImputerValueError(
                f"labels {owner[key]!r} and {label!r} both become the JSON key {key!r}, so one value would "
                "replace the other; rename one of them before calling to_dict()"
            )
        out[key] = value
        owner[key] = label
    return out


def float_list(values: Any) -> list[float | None]:
    """A 1-D float array-like as a list of floats, non-finite entries as None.

    Parameters
    ----------
    values : array-like, shape (n,)

    Returns
    -------
    list, n entries
    """
    arr = np.asarray(values, dtype=float).reshape(-1)
    out = arr.tolist()
    if not np.isfinite(arr).all():
        out = [v if math.isfinite(v) else None for v in out]
    return out


def finite_or_none(x: Any) -> float | None:
    """``float(x)``, or None when it is not finite."""
    v = float(x)
    return v if math.isfinite(v) else None
