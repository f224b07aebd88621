r""":class:`~imputer.EMImputer` with ``categorical=``: the general location model, fitted once, applied to new rows.

Fit. :func:`imputer.impute` with ``categorical=`` (:func:`imputer.impute_glom`: cells of
the categorical columns with probabilities ``pi_c``, the continuous columns ``N(mu_c,
Sigma)`` given the cell) on the training table; its levels, cell probabilities, cell means
and common covariance are kept.

Transform. A new row's observed levels restrict it to the compatible cells ``C_i``; its
posterior cell probabilities given its observed cells are ``r_ic \propto pi_c N(x_O;
mu_{c,O}, Sigma_OO)`` on ``C_i``; a missing continuous cell is filled with ``sum_c r_ic
E[x_M | x_O, c]``, a missing categorical cell with its most probable level (the argmax of
``sum_{c: level_j(c) = l} r_ic``), exactly as :func:`imputer.impute_glom` fills the
training rows (the same E-step pass, :class:`imputer.glom._estep.GlomPlan`, at the fitted
parameters). A ``category`` column comes back with the categories it had in ``fit``.

Unknown levels. A value of a categorical column that ``fit`` never observed has no
estimated probability: :meth:`EMImputer.transform` raises
:class:`~imputer.errors.ImputerValueError` naming the column, the value and its row (set
the cell to missing to have it imputed, or refit with rows of that level).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd

from imputer._gaussian.linalg import Infeasible
from imputer.errors import ImputerTypeError, ImputerValueError

__all__ = ["fit_estimator", "fit_glom", "glom_fill", "to_frame"]


def to_frame(X: Any, where: str) -> tuple[pd.DataFrame, list[str] | None]:
    """``X`` as a DataFrame (an array's columns named ``x0 .. x{k-1}``) and its string column names.

    The caller's frame is not modified (every later step copies).
    """
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        if hasattr(X, "tocsr") or hasattr(X, "toarray"):
            raise ImputerTypeError(f"EMImputer.{where}: sparse input is not supported; pass a dense array or a DataFrame")
        arr = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
        if np.iscomplexobj(arr):
            raise ImputerValueError(f"EMImputer.{where}: Complex data not supported")
        if arr.ndim != 2:
            raise ImputerValueError(f"EMImputer.{where}: Expected 2D array, got {arr.ndim}D array instead")
        frame = pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])
        frame = frame.infer_objects()
    for axis, what in ((0, "sample"), (1, "feature")):
        if frame.shape[axis] == 0:
            raise ImputerValueError(
                f"EMImputer.{where}: Found array with 0 {what}(s) (shape={frame.shape}) while a minimum of 1 is required."
            )
    if frame.columns.has_duplicates:
        raise ImputerValueError(f"EMImputer.{where}: duplicate column name {frame.columns[frame.columns.duplicated()][0]!r}")
    given = isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in frame.columns)
    names = list(frame.columns) if given else None
    return frame, names


def fit_estimator(est: Any, X: Any) -> tuple[dict[str, Any], int, list[str] | None] | None:
    """``EMImputer.fit`` with ``categorical=``: the options checked, the fitted attributes (indicators and
    ``model_`` included), the number of features and the feature names; None when ``"auto"`` finds no
    categorical column (the caller then fits the normal model)."""
    from imputer.mvn import _estimator_models as models
    from imputer.mvn._validate import check_options

    if est.categorical is None:
        raise ImputerTypeError("EMImputer: continuous= and means= go with categorical= (the general location model)")
    model = models.check_model(est)
    given = [k for k in ("transforms", "bounds") if getattr(est, k) is not None]
    if model != "normal" or est.ridge or given:
        what = given or (["ridge"] if est.ridge else [f"model={model!r}"])
        raise ImputerValueError(f"EMImputer: categorical= (the general location model) does not combine with {', '.join(what)}")
    if not isinstance(est.add_indicator, (bool, np.bool_)):
        raise ImputerTypeError(f"add_indicator must be a bool, got {type(est.add_indicator).__name__}")
    tol, max_iter, _, accelerate = check_options(est.tol, est.max_iter, 0.0, est.accelerate)
    frame, names = to_frame(X, "fit")
    if frame.shape[0] < 2:
        raise ImputerValueError("EMImputer.fit: X has 1 sample (n_samples=1); estimating a covariance needs at least 2 rows")
    fitted = fit_glom(frame, est, tol=tol, max_iter=max_iter, accelerate=accelerate)
    if fitted is None:
        return None
    fitted["model_"] = "normal"
    if est.add_indicator:
        fitted["indicator_features_"] = np.flatnonzero(frame.isna().to_numpy().any(axis=0))
    return fitted, frame.shape[1], names


def fit_glom(frame: pd.DataFrame, est: Any, **options: Any) -> dict[str, Any] | None:
    """The fitted attributes of the general location model on ``frame``; None when ``"auto"`` finds no
    categorical column (the caller then fits the normal model).

    Raises
    ------
    ImputerTypeError
        A column neither categorical nor numeric (EMImputer models every column).
    """
    import imputer
    from imputer.glom import GlomImputeResult
    from imputer.glom._validate import prepare_glom
    from imputer.mvn.estimator import _LEAVE_OUT

    inp = prepare_glom(frame, est.categorical, est.continuous, leave_out=_LEAVE_OUT)
    modelled = set(inp.categorical) | set(inp.continuous)
    other = [c for c in frame.columns if c not in modelled]
    if other:
        c = other[0]
        raise ImputerTypeError(
            f"EMImputer.fit: column {c!r} (dtype {frame[c].dtype}) is neither categorical nor numeric (a modelled "
            "argument must be a string or a number, and text a listed categorical); list it in categorical= or leave it "
            "out of X"
        )
    res = imputer.impute(
        frame, categorical=est.categorical, continuous=est.continuous, means=est.means, **options
    )
    if not isinstance(res, GlomImputeResult):
        return None
    pi = res.probabilities.to_numpy(dtype=float)
    cell_means = res.cell_means.to_numpy(dtype=float)
    sigma = res.cov.to_numpy(dtype=float)
    mean = pi @ cell_means
    dev = cell_means - mean
    dtypes = {c: frame[c].dtype for c in res.categorical}
    return {
        "categorical_": np.asarray(res.categorical, dtype=object),
        "continuous_": np.asarray(res.continuous, dtype=object),
        "categories_": [np.asarray(inp.cells.levels[j], dtype=object) for j in range(len(res.categorical))],
        "probabilities_": res.probabilities.copy(),
        "cell_means_": res.cell_means.copy(),
        "within_covariance_": res.cov.copy(),
        "mean_model_": res.means,
        "mean_": mean,
        "covariance_": sigma + (pi[:, None] * dev).T @ dev,
        "n_iter_": int(res.n_iter),
        "converged_": bool(res.converged),
        "loglik_": float(res.loglik),
        "_categorical_dtypes": dtypes,
    }


def _codes(est: Any, frame: pd.DataFrame) -> np.ndarray:
    """Level codes (n, J) of the new rows under the fitted levels (-1 missing); an unseen level is an error."""
    from imputer.glom._cells import column_codes

    codes = np.empty((frame.shape[0], len(est.categorical_)), dtype=np.intp)
    for j, (label, levels) in enumerate(zip(est.categorical_, est.categories_, strict=True)):
        series = frame[label]
        codes[:, j], _ = column_codes(series, list(levels))
        unknown = np.flatnonzero((codes[:, j] < 0) & series.notna().to_numpy())
        if unknown.size:
            i = int(unknown[0])
            value = series.iloc[i]
            value = value.item() if isinstance(value, np.generic) else value
            raise ImputerValueError(
                f"EMImputer.transform: categorical column {label!r}: value {value!r} (row "
                f"{frame.index[i]!r}) was not seen in fit (levels: {list(levels)!r}); it has no estimated "
                "probability. Set the cell to missing to have it imputed, or refit with rows of that level"
            )
    return codes


def _continuous(est: Any, frame: pd.DataFrame) -> np.ndarray:
    """The continuous columns as float64 (n, p), NaN missing; non-numeric or infinite values are errors."""
    from imputer.columns import is_modelled
    from imputer.mvn._validate import float_values

    out = np.empty((frame.shape[0], len(est.continuous_)), order="F")
    for j, label in enumerate(est.continuous_):
        series = frame[label]
        if not is_modelled(series):
            raise ImputerTypeError(f"EMImputer.transform: continuous column {label!r} has non-numeric dtype {series.dtype}")
        out[:, j] = float_values(series)
        if np.isinf(out[:, j]).any():
            raise ImputerValueError(f"EMImputer.transform: column {label!r} contains an infinite value")
    return out


def glom_fill(est: Any, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The completed copy of ``frame`` (fills as in the module docstring) and the missing mask (n, k).

    The columns keep their dtypes: a ``category`` column the fitted categories, a continuous
    column with gaps becomes ``float64`` (``Float64`` for nullable dtypes).
    """
    from imputer.glom._cells import CellGrid
    from imputer.glom._estep import GlomPlan
    from imputer.mvn._fit import blas_threads

    codes = _codes(est, frame)
    x = _continuous(est, frame)
    mask = frame.isna().to_numpy()
    sd = np.sqrt(np.diag(est.covariance_))
    z = (x - est.mean_) / sd
    pi = est.probabilities_.to_numpy(dtype=float)
    means = (est.cell_means_.to_numpy(dtype=float) - est.mean_) / sd
    sigma = est.within_covariance_.to_numpy(dtype=float) / np.outer(sd, sd)
    cells = CellGrid.of(tuple(est.categorical_), tuple(list(lv) for lv in est.categories_))
    try:
        with blas_threads(max(x.shape[1], 1)):  # small matrices: BLAS threads only cost (as impute_glom)
            _, zfill, posteriors = GlomPlan(z, codes, cells).run(pi, means, sigma, stats=False, fill=True)
    except Infeasible:
        raise ImputerValueError(
            "EMImputer.transform: a row has zero probability under the fitted model (its observed levels "
            "form a cell of probability 0)"
        ) from None
    assert zfill is not None and posteriors is not None
    parts: dict[int, Any] = {}
    position = {c: k for k, c in enumerate(frame.columns)}
    for j, label in enumerate(est.continuous_):
        col, miss = frame[label], np.isnan(x[:, j])
        if not miss.any():
            parts[position[label]] = col.array.copy()
            continue
        filled = x[:, j].copy()
        filled[miss] = est.mean_[j] + sd[j] * zfill[miss, j]
        ext = isinstance(col.dtype, pd.api.extensions.ExtensionDtype)
        parts[position[label]] = pd.array(filled, dtype="Float64") if ext else filled
    out = pd.DataFrame(parts, index=frame.index, copy=False)
    for j, label in enumerate(est.categorical_):
        arr = _levels_filled(est, frame[label], label, *posteriors[j], list(est.categories_[j]))
        out[position[label]] = pd.Series(arr, index=frame.index, dtype=arr.dtype, copy=False)  # no dtype inference
    out = out[list(range(frame.shape[1]))]
    out.columns = frame.columns
    return out, mask


def _levels_filled(est: Any, series: pd.Series, label: Hashable, rows: np.ndarray, probs: np.ndarray, levels: list[object]) -> Any:
    """The column (a copy) with ``rows`` set to their most probable level; a category gets the fitted categories."""
    fitted = est._categorical_dtypes.get(label)
    if isinstance(fitted, pd.CategoricalDtype):
        arr = pd.Categorical(series.astype(object).where(series.notna(), None), dtype=fitted)
    else:
        arr = series.array.copy()
    if rows.size:
        best = [levels[b] for b in np.argmax(probs, axis=1)]
        if isinstance(arr, pd.Categorical):
            arr[rows] = best
        else:
            arr[rows] = pd.array(best, dtype=arr.dtype)
    return arr
