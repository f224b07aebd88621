"""Which columns of a table the multivariate-normal engine models: the one definition.

A column is *modelled* (numeric) when its dtype is a real integer or floating dtype,
numpy's (``int64``, ``float32``, ...) or pandas' nullable ones (``Int64``, ``Float64``,
...). Booleans, complex numbers, strings, categoricals, datetimes, timedeltas and object
columns are not: :func:`imputer.impute` carries them through unchanged (it models
:func:`modelled_columns` when ``columns`` is not given), :class:`imputer.EMImputer`
rejects them, and the REST service counts the modelled columns against its column
limit with :func:`is_modelled`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

__all__ = ["is_modelled", "modelled_columns"]


def is_modelled(column: Any) -> bool:
    """Whether a column (or its dtype) is numeric in the engine's sense.

    Parameters
    ----------
    column : Series, Index, array or dtype
        Anything with a ``dtype`` attribute, or a dtype (or dtype name) itself.

    Returns
    -------
    bool
        True for real integer and floating dtypes, numpy or pandas nullable; False for
        booleans, complex, timedeltas and every non-numeric dtype.

    Examples
    --------
    >>> import pandas as pd
    >>> from imputer.columns import is_modelled
    >>> is_modelled(pd.Series([1, None], dtype="Int64")), is_modelled(pd.Series([True, False]))
    (True, False)
    """
    dtype = getattr(column, "dtype", column)
    return bool(
        ptypes.is_numeric_dtype(dtype)
        and not ptypes.is_bool_dtype(dtype)
        and not ptypes.is_complex_dtype(dtype)
        and not ptypes.is_timedelta64_dtype(dtype)
    )


def modelled_columns(frame: pd.DataFrame) -> list[Hashable]:
    """Labels of the modelled columns of ``frame``, in the frame's order.

    Parameters
    ----------
    frame : DataFrame, shape (n, k)

    Returns
    -------
    list
        The labels ``c`` with :func:`is_modelled` true for ``frame[c]`` (what
        :func:`imputer.impute` models when ``columns`` is not given).
    """
    return [c for c, dtype in zip(frame.columns, frame.dtypes, strict=True) if is_modelled(dtype)]
