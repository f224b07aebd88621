"""``EMImputer.fit(ddf)`` and ``EMImputer.transform(ddf)`` on Dask DataFrames.

``fit`` estimates ``(mu, Sigma)`` of the frame's columns by :func:`imputer.dask.impute`
(the in-memory estimates, the E-step mapped over partitions) and sets the fitted
attributes :meth:`imputer.EMImputer.fit` sets; ``transform`` fills each partition with the
estimator's own in-memory :meth:`~imputer.EMImputer.transform` (the conditional means
``E[x_m | x_o]`` under the fitted parameters) by ``map_partitions``: a lazy Dask DataFrame
with the input's divisions, index and column names, float64 columns (then, with
``add_indicator=True``, the ``missingindicator_<feature>`` columns of the in-memory
output). As with pandas input, every column is modelled: the model ``normal`` with
``ridge`` (imputer's prior) only; ``prior="amelia"``, ``transforms``, ``bounds``,
``categorical``, ``continuous``, ``means`` (and ``start``) are refused by name, never ignored.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from imputer.dask.api import fit_dask
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mvn import _estimator_models as models
from imputer.mvn._validate import check_prior, not_for_dask

__all__ = ["fit", "transform"]

#: What to do instead, ending the refusal of an option the Dask fit has not.
_DASK_FIT = "the Dask fit is the normal model with imputer's ridge prior; fit X.compute() for a table that fits in memory"


def _check_options(est: Any) -> None:
    """The estimator's options against what the Dask fit has: the in-memory checks, then each
    option it has not refused by name (never ignored)."""
    models.check_model(est)  # model among normal/t/mixture, dof with the t only (as in memory)
    if not isinstance(est.add_indicator, (bool, np.bool_)):
        raise ImputerTypeError(f"add_indicator must be a bool, got {type(est.add_indicator).__name__}")
    prior = check_prior(est.prior)
    refused = [name for name, given in (
        (f"prior={prior!r}", prior != "ridge"),
        ("transforms", est.transforms is not None),
        ("bounds", est.bounds is not None),
        ("categorical", est.categorical is not None),
        ("continuous", est.continuous is not None),
        ("means", est.means is not None),
    ) if given]
    if refused:
        raise not_for_dask(refused, _DASK_FIT, where="EMImputer.fit")


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
    _check_options(est)
    cols = _columns(est, ddf, "fit")
    from imputer.mvn.estimator import _LEAVE_OUT

    res = fit_dask(
        ddf, columns=cols, tol=est.tol, max_iter=est.max_iter, ridge=est.ridge, accelerate=est.accelerate,
        persist=None, progress=False, client=None, stacklevel=4, leave_out=_LEAVE_OUT,
    ).result
    est._forget()  # a refit after another model or option (t, mixture, categorical, transforms, indicators)
    est.mean_ = res.mean.to_numpy()
    est.covariance_ = res.cov.to_numpy()
    est.model_ = "normal"
    if est.add_indicator:  # the features with missing values in fit, as in memory
        est.indicator_features_ = np.flatnonzero(res.n_missing.to_numpy() > 0)
    # scikit-learn's rule for feature names: string labels only
    est._set_names(len(cols), cols if all(isinstance(c, str) for c in cols) else None)
    est.n_iter_ = int(res.n_iter)
    est.converged_ = bool(res.converged)
    est.loglik_ = float(res.loglik)
    return est


class _Transform:
    """``map_partitions`` function: the estimator's in-memory ``transform`` of one partition.

    ``est`` is a copy taken when the lazy frame was made, so that its columns stay those of
    the meta whatever is later set on the caller's estimator.
    """

    def __init__(self, est: Any, columns: pd.Index) -> None:
        self.est = est
        self.columns = columns

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        if len(frame) == 0:
            return pd.DataFrame(np.empty((0, len(self.columns))), index=frame.index, columns=self.columns)
        out = np.asarray(self.est.transform(frame), dtype=float)
        return pd.DataFrame(out, index=frame.index, columns=self.columns)


def transform(est: Any, ddf: Any) -> Any:
    """``est.transform`` partition by partition: a lazy Dask DataFrame (float64 columns).

    The input's columns, then with ``add_indicator=True`` one 0/1 column per feature with
    missing values in ``fit``, ``missingindicator_<feature>`` (the names of
    :meth:`~imputer.EMImputer.get_feature_names_out`).
    """
    est._check_fitted("transform")
    cols = _columns(est, ddf, "transform")
    est._check_columns(len(cols), cols if all(isinstance(c, str) for c in cols) else None)
    indicators = est._indicators("transform")  # now, not when the partitions are computed
    labels = list(cols)
    if indicators is not None:
        labels += list(est.get_feature_names_out()[est.n_features_in_:])
    columns = pd.Index(labels, tupleize_cols=False)
    meta = pd.DataFrame(np.empty((0, len(columns))), index=ddf._meta.index[:0], columns=columns)
    return ddf.map_partitions(_Transform(copy.copy(est), columns), meta=meta)
