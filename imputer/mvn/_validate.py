"""Input checking for :func:`imputer.impute`: options, the table, the modelled columns.

The job: turn what a user passes (a DataFrame, or a 2-D array-like) into a DataFrame
plus the list of modelled columns as float64 vectors with NaN for missing, or raise an
error from :mod:`imputer.errors` that names the column or parameter at fault.

A column is *numeric* (modelled by default) when its dtype is a real integer or float
dtype, numpy or pandas nullable (``Int64``, ``Float64``, ...); booleans, strings,
categoricals, datetimes, timedeltas and object columns are carried through unmodelled.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from imputer.errors import ImputerTypeError, ImputerValueError

__all__ = ["Prepared", "check_options", "prepare"]


@dataclass(frozen=True)
class Prepared:
    """A validated table.

    Attributes
    ----------
    frame : DataFrame, shape (n, k)
        The caller's data as a DataFrame (the caller's object itself when it was one;
        never modified).
    columns : tuple
        Labels of the modelled columns (``p`` of them): the frame's order by default, the
        caller's order when given with ``columns=``.
    values : tuple of ndarray, each shape (n,)
        Float64 values of the modelled columns, NaN where missing (read only; may be
        views of the caller's data).
    """

    frame: pd.DataFrame
    columns: tuple[Hashable, ...]
    values: tuple[np.ndarray, ...]

    @property
    def n_rows(self) -> int:
        return int(self.frame.shape[0])


def _number(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ImputerTypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    return float(value)


def check_options(tol: Any, max_iter: Any, ridge: Any, accelerate: Any) -> tuple[float, int, float, bool]:
    """Validate the fitting options; return them as (float, int, float, bool)."""
    tol_f = _number("tol", tol)
    if not (math.isfinite(tol_f) and tol_f > 0.0):
        raise ImputerValueError(f"tol must be a finite number > 0, got {tol!r}")
    if isinstance(max_iter, (bool, np.bool_)) or not isinstance(max_iter, numbers.Integral):
        raise ImputerTypeError(f"max_iter must be an integer, got {type(max_iter).__name__} {max_iter!r}")
    if int(max_iter) < 1:
        raise ImputerValueError(f"max_iter must be >= 1, got {max_iter!r}")
    ridge_f = _number("ridge", ridge)
    if not (math.isfinite(ridge_f) and ridge_f >= 0.0):
        raise ImputerValueError(f"ridge must be a finite number >= 0, got {ridge!r}")
    if not isinstance(accelerate, (bool, np.bool_)):
        raise ImputerTypeError(f"accelerate must be True or False, got {accelerate!r}")
    return tol_f, int(max_iter), ridge_f, bool(accelerate)


def is_numeric(dtype: Any) -> bool:
    """Whether a column dtype is modelled: real integer or float, numpy or nullable."""
    return bool(
        ptypes.is_numeric_dtype(dtype)
        and not ptypes.is_bool_dtype(dtype)
        and not ptypes.is_complex_dtype(dtype)
        and not ptypes.is_timedelta64_dtype(dtype)
    )


def _array_to_frame(data: Any) -> pd.DataFrame:
    try:
        arr = np.asarray(data)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise ImputerTypeError(f"data must be a DataFrame or a 2-D array-like: {exc}") from None
    if arr.ndim != 2:
        raise ImputerValueError(f"data must be 2-D (rows x columns), got an array with {arr.ndim} dimension(s)")
    if arr.dtype.kind in "iuf":
        return pd.DataFrame(arr)
    if arr.dtype.kind == "b":
        raise ImputerTypeError("data: a boolean array has no numeric column to model")
    if arr.dtype.kind not in "OUS":
        raise ImputerTypeError(f"data: array of dtype {arr.dtype} has no numeric column to model")
    if arr.dtype.kind != "O":  # a nested list mixing numbers and strings: keep the numbers
        arr = np.asarray(data, dtype=object)
    # object array: None / NaN / pd.NA are missing, everything else must be a real number
    out = np.empty(arr.shape, dtype=float)
    for (i, j), v in np.ndenumerate(arr):
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            out[i, j] = np.nan
        elif isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)):
            out[i, j] = float(v)
        else:
            raise ImputerTypeError(f"data: column {j} (row {i}) holds the non-numeric value {v!r}")
    return pd.DataFrame(out)


def _float_values(series: pd.Series) -> np.ndarray:
    if series.dtype == np.float64:
        return series.to_numpy()
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def prepare(data: Any, columns: Sequence[Hashable] | None) -> Prepared:
    """Validate ``data`` and ``columns``; extract the modelled columns as float64.

    Raises
    ------
    ImputerTypeError
        ``data`` is not tabular, has no numeric column, or a column chosen with
        ``columns=`` is not numeric.
    ImputerValueError
        Empty data, duplicate column names, a single row, an unknown or repeated name in
        ``columns``, a modelled column with no observed value or with an infinite value.
    """
    frame = data if isinstance(data, pd.DataFrame) else _array_to_frame(data)
    n, k = frame.shape
    if n == 0 or k == 0:
        raise ImputerValueError(f"data is empty ({n} rows x {k} columns)")
    if frame.columns.has_duplicates:
        dup = list(dict.fromkeys(frame.columns[frame.columns.duplicated()]))
        raise ImputerValueError(f"data has duplicate column names: {dup!r}; column names must be unique")
    if columns is None:
        chosen = [c for c, dtype in zip(frame.columns, frame.dtypes, strict=True) if is_numeric(dtype)]
        if not chosen:
            raise ImputerTypeError(
                "data has no numeric column to model (dtypes: "
                + ", ".join(f"{c!r}: {frame[c].dtype}" for c in list(frame.columns)[:10])
                + ")"
            )
    else:
        if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence | pd.Index | np.ndarray):
            raise ImputerTypeError(f"columns must be a list of column names, got {columns!r}")
        chosen = list(columns)
        if not chosen:
            raise ImputerValueError("columns is empty: name at least one column to model")
        seen: set[Hashable] = set()
        for c in chosen:
            if c not in frame.columns:
                raise ImputerValueError(f"columns: unknown column {c!r} (available: {list(frame.columns)!r})")
            if c in seen:
                raise ImputerValueError(f"columns: column {c!r} is listed twice")
            seen.add(c)
            if not is_numeric(frame[c].dtype):
                raise ImputerTypeError(f"columns: column {c!r} has non-numeric dtype {frame[c].dtype} and cannot be modelled")
    if n < 2:
        raise ImputerValueError("data has a single row: estimating a covariance needs at least 2 rows")
    values = []
    for c in chosen:
        v = _float_values(frame[c])
        finite = np.isfinite(v)
        if not finite.any():
            raise ImputerValueError(f"column {c!r} has no observed value; drop it or leave it out of columns=")
        if np.isinf(v).any():
            raise ImputerValueError(f"column {c!r} contains an infinite value; replace it (e.g. by NaN for missing)")
        values.append(v)
    return Prepared(frame=frame, columns=tuple(chosen), values=tuple(values))
