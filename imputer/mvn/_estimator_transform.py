r""":class:`~imputer.EMImputer` with ``transforms=``/``bounds=``: the normal on another scale, fills carried back.

As :func:`imputer.impute` with the same options (:mod:`imputer.transform.api`): column ``j``
is modelled as ``y_j = g_j(x_j)`` (``log``, ``sqrt``, a logit on ``(lo, hi)`` or the
identity), ``y ~ N_p(mu, Sigma)``, so ``mean_`` and ``covariance_`` are on that scale. A
missing cell of a new row is filled with ``E[g_j^{-1}(Y_j) | y_O]``, ``Y_j | y_O ~ N(m, v)``
the fitted normal's conditional distribution, truncated to the column's bounds when it has
them (:func:`imputer.transform._maps.back_moments`: ``exp(m + v/2)`` for a log column, the
truncated-normal mean for a bounded one); observed cells come back bit for bit. The
observed values of the new rows are checked as in ``fit`` (a log column's values positive,
values inside their bounds), by the rules and messages of :func:`imputer.impute`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imputer.transform._maps import ColumnMap, back_moments, forward
from imputer.transform._spec import column_maps

__all__ = ["back", "check_maps", "to_model_scale"]


def check_maps(
    est: Any, labels: tuple[str, ...], values: np.ndarray, index: pd.Index | None, where: str
) -> tuple[ColumnMap, ...] | None:
    """The column maps of ``est.transforms``/``est.bounds`` checked against ``values`` (n, p); None without them.

    Raises :class:`~imputer.errors.ImputerValueError` naming the option, the column and the row
    of a value outside a transform's domain or a column's bounds (prefixed ``EMImputer.<where>:``).
    """
    if est.transforms is None and est.bounds is None:
        return None
    from imputer.errors import ImputerTypeError, ImputerValueError

    try:
        return column_maps(est.transforms, est.bounds, labels, tuple(values[:, j] for j in range(values.shape[1])),
                           pd.RangeIndex(values.shape[0]) if index is None else index)
    except (ImputerTypeError, ImputerValueError) as exc:
        raise type(exc)(f"EMImputer.{where}: {exc}") from None


def to_model_scale(maps: tuple[ColumnMap, ...], values: np.ndarray) -> np.ndarray:
    """``g_j(x_j)`` column by column, a Fortran-ordered copy (NaN stays NaN)."""
    out = np.empty(values.shape, order="F")
    for j, m in enumerate(maps):
        out[:, j] = forward(m, values[:, j])
    return out


def back(maps: tuple[ColumnMap, ...], original: np.ndarray, mask: np.ndarray, cond_mean: np.ndarray,
         cond_var: np.ndarray, *, variances: bool = False) -> np.ndarray:
    """Original-scale fills (observed cells of ``original`` as they are), or with ``variances`` the
    conditional variances (0 where observed), from the model-scale conditional moments (n, p)."""
    out = np.zeros(original.shape, order="F") if variances else original.copy(order="F")
    for j, m in enumerate(maps):
        miss = mask[:, j]
        if miss.any():
            mean, var = back_moments(m, cond_mean[miss, j], cond_var[miss, j])
            out[miss, j] = var if variances else mean
    return out
