"""``fit_mixed_frame(df, ["yield", "height"], ...)``: the multi-trait model from a table.

The traits are the listed numeric columns (NaN for missing); ``fixed``, ``random``
and ``kernels`` are read exactly as for one response (:func:`imputer.mixed._design.build_frame_problem`,
run on the rows where at least one trait is observed), then the multi-trait fit
(:mod:`imputer.mixed._multitrait_fit`) takes the design.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mixed._design import build_frame_problem
from imputer.mixed._multitrait_fit import fit_multitrait_parts
from imputer.mixed.multitrait_result import MultiTraitResult

__all__ = ["fit_multitrait_frame"]


def fit_multitrait_frame(data: Any, response: list, **kw: Any) -> MultiTraitResult:
    """Validate the table and the trait columns, build the design, fit (see :func:`imputer.fit_mixed_frame`)."""
    if not isinstance(data, pd.DataFrame):
        raise ImputerTypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if len(response) < 2:
        raise ImputerValueError(f"response: give two or more trait columns for a multi-trait fit, got {response!r}")
    if len(set(map(str, response))) != len(response):
        raise ImputerValueError(f"response: trait columns are not unique: {response!r}")
    for col in response:
        if col not in data.columns:
            raise ImputerValueError(f"response: column {col!r} is not in data")
        if not pd.api.types.is_numeric_dtype(data[col]) or pd.api.types.is_bool_dtype(data[col]):
            raise ImputerTypeError(f"response: column {col!r} is not numeric (dtype {data[col].dtype})")
    fixed = kw.pop("fixed")
    for col in fixed or ():
        if col in response:
            raise ImputerValueError(f"fixed: {col!r} is a response (trait) column")
    Y = data[list(response)].to_numpy(dtype=float, na_value=np.nan)
    if np.any(np.isinf(Y)):
        raise ImputerValueError("response: the trait columns have infinite values")
    any_obs = ~np.isnan(Y).all(axis=1)
    marker = "__any_trait_observed__"
    while marker in data.columns:
        marker += "_"
    frame = data.drop(columns=list(response)).assign(**{marker: np.where(any_obs, 0.0, np.nan)})
    method = kw.pop("method")
    problem = build_frame_problem(
        frame, marker, fixed, kw.pop("random"), kw.pop("kernels"), kw.pop("intercept"), method
    )
    return fit_multitrait_parts(
        Y, problem.index, [str(c) for c in response], problem.X, problem.x_names, problem.components,
        method=method, field="response", **kw,
    )
