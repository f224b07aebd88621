"""``EMImputer.fit(ddf)`` and ``EMImputer.transform(ddf)`` on Dask DataFrames.

``fit`` estimates ``(mu, Sigma)`` of the frame's columns by :func:`imputer.dask.impute`
(the in-memory estimates, the E-step mapped over partitions) and sets the fitted
attributes :meth:`imputer.EMImputer.fit` sets; ``transform`` fills each partition with the
estimator's own in-memory :meth:`~imputer.EMImputer.transform` (the conditional means
``E[x_m | x_o]`` under the fitted parameters) by ``map_partitions``: a lazy Dask DataFrame
with the input's divisions, index and column names, float64 columns. As with pandas
input, every column is modelled (the model ``normal`` only).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imputer.dask.api import impute
from imputer.errors import ImputerTypeError, ImputerValueError

__all__ = ["fit", "transform"]


def _columns(est: Any, ddf: Any, where: str) -> list[Any]:
    from imputer.dask.api import _check_frame

    _check_frame(ddf)
    if est.model != "normal":
        raise ImputerValueError(f"EMImputer.{where}: a Dask DataFrame is fitted with model='normal' only, not {est.model!r}")
    cols = list(ddf.columns)
    from imputer.columns import is_modelled

    bad = [c for c in cols if not is_modelled(ddf._meta[c])]
    if bad:
        raise ImputerTypeError(
            f"EMImputer.{where}: every column of X must be numeric; {bad[0]!r} has dtype {ddf._meta[bad[0]].dtype}"
        )
    return cols


def fit(est: Any, ddf: Any) -> Any:
    """Fit ``est`` (an :class:`imputer.EMImputer`) to a Dask DataFrame; returns ``est``."""
    cols = _columns(est, ddf, "fit")
    res = impute(
        ddf, columns=cols, tol=est.tol, max_iter=est.max_iter, ridge=est.ridge, accelerate=est.accelerate,
        progress=False,
    )
    for name in ("scale_", "dof_", "row_weights_", "weights_", "means_", "covariances_", "covariance_type_",
                 "n_components_", "bic_", "bic_table_"):
        est.__dict__.pop(name, None)  # a refit with another model
    est.mean_ = res.mean.to_numpy()
    est.covariance_ = res.cov.to_numpy()
    est.model_ = "normal"
    est.n_features_in_ = len(cols)
    if all(isinstance(c, str) for c in cols):  # scikit-learn's rule for feature names
        est.feature_names_in_ = np.asarray(cols, dtype=object)
    else:
        est.__dict__.pop("feature_names_in_", None)
    est.n_iter_ = int(res.n_iter)
    est.converged_ = bool(res.converged)
    est.loglik_ = float(res.loglik)
    return est


class _Transform:
    """``map_partitions`` function: the estimator's in-memory ``transform`` of one partition."""

    def __init__(self, est: Any) -> None:
        self.est = est

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        if len(frame) == 0:
            return pd.DataFrame({c: pd.Series([], dtype=float) for c in frame.columns}, index=frame.index)
        out = np.asarray(self.est.transform(frame), dtype=float)
        return pd.DataFrame(out, index=frame.index, columns=frame.columns)


def transform(est: Any, ddf: Any) -> Any:
    """``est.transform`` partition by partition: a lazy Dask DataFrame (float64 columns)."""
    est._check_fitted("transform")
    _columns(est, ddf, "transform")
    meta = pd.DataFrame({c: pd.Series([], dtype=float) for c in ddf.columns}, index=ddf._meta.index[:0])
    return ddf.map_partitions(_Transform(est), meta=meta)
