r"""EM imputation on transformed and bounded columns (Amelia's ``logs``, ``sqrts``, ``lgstc``, ``bounds``).

Model. Column ``j`` is modelled on the scale ``y_j = g_j(x_j)`` (``log``, ``sqrt``, a
logit on ``(lo, hi)``, or the identity): ``y ~ N_p(mu, Sigma)`` with cells missing at
random, fitted by :func:`imputer.impute`'s EM on the transformed table (so the estimates,
the log-likelihood of the transformed data and the standard errors are that fit's, on
that scale). A missing cell is filled with its conditional expectation on the original
scale, ``E[g_j^{-1}(Y_j) | y_obs]`` with ``Y_j | y_obs ~ N(m_ij, v_ij)`` the model's
conditional distribution, truncated to ``g_j([lower_j, upper_j])`` when the column is
bounded: for a log column ``exp(m + v/2)``, for a bounded untransformed column the
truncated normal mean (formulas in :mod:`imputer.transform._maps`). Observed cells are
returned bit for bit.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from imputer._em.monitor import Callback
from imputer.errors import ImputerValueError
from imputer.mvn._validate import Prepared, prepare
from imputer.transform._maps import ColumnMap, back_moments, forward
from imputer.transform._spec import column_maps
from imputer.transform.result import TransformedImputeResult

__all__ = ["impute_transformed"]


def impute_transformed(
    data: Any,
    *,
    columns: Sequence[Hashable] | None,
    transforms: Mapping[Hashable, Any] | None,
    bounds: Mapping[Hashable, Any] | None,
    tol: float,
    max_iter: int,
    ridge: float,
    accelerate: bool,
    progress: bool,
    callback: Callback | None,
    max_time: float | None,
    prior: str = "ridge",
) -> TransformedImputeResult:
    """:func:`imputer.impute` with ``transforms``/``bounds`` (see there and the module docstring)."""
    from imputer.mvn.api import _completed_frame, impute

    prep = prepare(data, columns)
    maps = column_maps(transforms, bounds, prep.columns, prep.values, prep.frame.index)
    labels = [m.label(str(c)) if m.kind != "identity" else c for c, m in zip(prep.columns, maps, strict=True)]
    if len(set(labels)) != len(labels):
        dup = next(x for x in labels if labels.count(x) > 1)
        raise ImputerValueError(f"transforms: the model-scale label {dup!r} names two columns; rename one of them")
    model_frame = pd.DataFrame(
        {k: forward(m, v) for k, (m, v) in enumerate(zip(maps, prep.values, strict=True))}, index=prep.frame.index
    )
    model_frame.columns = pd.Index(labels, tupleize_cols=False)
    model = impute(
        model_frame, tol=tol, max_iter=max_iter, ridge=ridge, prior=prior, accelerate=accelerate,
        progress=progress, callback=callback, max_time=max_time,
    )
    filled, variances = _back(prep, maps, model)
    n_missing = np.array([int(np.isnan(v).sum()) for v in prep.values])
    completed = _completed_frame(prep.frame, prep.columns, filled, n_missing)
    index = prep.frame.index
    names = pd.Index(list(prep.columns), tupleize_cols=False)
    return TransformedImputeResult(
        completed=completed,
        model=model,
        maps=maps,
        columns=prep.columns,
        conditional_var_source=lambda: pd.DataFrame(variances, index=index, columns=names, copy=False),
    )


def _back(prep: Prepared, maps: tuple[ColumnMap, ...], model: Any) -> tuple[np.ndarray, np.ndarray]:
    """Original-scale fills (observed cells as given) and conditional variances, ``(n, p)`` each."""
    n, p = prep.n_rows, len(prep.columns)
    filled = np.empty((n, p), order="F")
    variances = np.zeros((n, p), order="F")
    cond_mean = model.completed.to_numpy(dtype=float)
    cond_var = model.conditional_var.to_numpy(dtype=float)
    for j, (m, v) in enumerate(zip(maps, prep.values, strict=True)):
        filled[:, j] = v
        miss = np.isnan(v)
        if not miss.any():
            continue
        mean, var = back_moments(m, cond_mean[miss, j], cond_var[miss, j])
        filled[miss, j] = mean
        variances[miss, j] = var
    return filled, variances
