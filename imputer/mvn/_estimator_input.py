"""Input conversion of :class:`~imputer.EMImputer`: ``X`` as scikit-learn converts array-likes.

A dense float64 ``(n, p)`` copy in Fortran order with NaN for missing, never a view of the
caller's data; scikit-learn's messages (which ``check_estimator`` matches) for sparse,
complex, non-numeric, empty, non-2-D and infinite input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imputer.columns import is_modelled
from imputer.errors import ImputerTypeError, ImputerValueError

__all__ = ["to_float_matrix"]


def to_float_matrix(X: Any, *, where: str) -> tuple[np.ndarray, list[str] | None]:
    """Validate ``X`` and return it as float64 ``(n, p)`` with NaN for missing.

    A copy in Fortran order (each column contiguous), never a view of the caller's data.

    The second value is the list of column names when ``X`` is a DataFrame whose
    column names are all strings (scikit-learn's rule for ``feature_names_in_``).
    """
    if hasattr(X, "tocsr") or hasattr(X, "toarray"):
        raise ImputerTypeError(
            f"EMImputer.{where}: sparse input is not supported; pass a dense array "
            "(X.toarray()) or a DataFrame"
        )
    names: list[str] | None = None
    if isinstance(X, pd.DataFrame):
        if X.columns.has_duplicates:
            dup = X.columns[X.columns.duplicated()][0]
            raise ImputerValueError(f"EMImputer.{where}: duplicate column name {dup!r}")
        for col in X.columns:
            dtype = X[col].dtype
            if not is_modelled(dtype):
                raise ImputerTypeError(
                    f"EMImputer.{where}: column {col!r} has non-numeric dtype {dtype}; "
                    "EMImputer models numeric columns only. In a pipeline, give it the numeric "
                    "columns and pass the others through: make_column_transformer((EMImputer(), "
                    "make_column_selector(dtype_include='number')), remainder='passthrough') "
                    "(sklearn.compose); or use imputer.impute, which carries other columns through"
                )
        if all(isinstance(c, str) for c in X.columns):
            names = list(X.columns)
        values = np.array(X.to_numpy(dtype=np.float64, na_value=np.nan), order="F")
    else:
        arr = np.asarray(X)
        if np.iscomplexobj(arr):
            raise ImputerValueError(f"EMImputer.{where}: Complex data not supported")
        if arr.dtype.kind == "b":
            raise ImputerTypeError(
                f"EMImputer.{where}: X has non-numeric dtype bool; EMImputer models numeric "
                "columns only"
            )
        if arr.dtype.kind not in "iuf":
            try:
                if arr.ndim == 2:
                    arr = pd.DataFrame(arr).apply(pd.to_numeric).to_numpy(
                        dtype=np.float64, na_value=np.nan
                    )
                else:
                    arr = arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ImputerTypeError(
                    f"EMImputer.{where}: X must be numeric: every argument must be a string "
                    f"or a number convertible to float, got dtype {arr.dtype} ({exc})"
                ) from None
        if arr.ndim != 2:
            raise ImputerValueError(
                f"EMImputer.{where}: Expected 2D array, got {arr.ndim}D array instead. "
                "Reshape your data with X.reshape(-1, 1) for a single feature or "
                "X.reshape(1, -1) for a single sample"
            )
        values = np.array(arr, dtype=np.float64, order="F")
    if values.shape[0] == 0:
        raise ImputerValueError(
            f"EMImputer.{where}: Found array with 0 sample(s) (shape={values.shape}) while "
            "a minimum of 1 is required."
        )
    if values.shape[1] == 0:
        raise ImputerValueError(
            f"EMImputer.{where}: Found array with 0 feature(s) (shape={values.shape}) while "
            "a minimum of 1 is required."
        )
    bad = np.isinf(values).any(axis=0)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        label = names[j] if names is not None else f"x{j}"
        raise ImputerValueError(f"EMImputer.{where}: column {label!r} contains an infinite value")
    return values, names
