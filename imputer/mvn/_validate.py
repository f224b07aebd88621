"""Input checking for :func:`imputer.impute`: options, the table, the modelled columns.

The job: turn what a user passes (a DataFrame, or a 2-D array-like) into a DataFrame
plus the list of modelled columns as float64 vectors with NaN for missing, or raise an
error from :mod:`imputer.errors` that names the column or parameter at fault.

The options are checked against :data:`imputer.options.MVN_OPTIONS`; which columns are
numeric (modelled by default) is :func:`imputer.columns.is_modelled`. The checks on a
modelled column's values (:func:`check_column`) and on the table's size
(:func:`check_rows`) are shared with :class:`imputer.EMImputer`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from imputer.columns import is_modelled, modelled_columns
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mvn._fit import SINGULAR_EIG, min_corr_eig
from imputer.options import MVN_OPTIONS, _too_large

__all__ = [
    "Prepared", "check_column", "check_options", "check_rows", "check_start", "float_values", "is_dask", "not_for_dask",
    "prepare", "refuse_dask", "select", "standardised_start", "start_in_units",
]


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
        Float64 values of the modelled columns, NaN where missing (to be treated as
        read only: they may be views of the caller's data).
    """

    frame: pd.DataFrame
    columns: tuple[Hashable, ...]
    values: tuple[np.ndarray, ...]

    @property
    def n_rows(self) -> int:
        return int(self.frame.shape[0])

    def passthrough(self) -> tuple[Hashable, ...]:
        """Labels of the frame's columns that are not modelled, in the frame's order."""
        modelled = set(self.columns)
        return tuple(c for c in self.frame.columns if c not in modelled)

    def missing_mask(self) -> np.ndarray:
        """Where the modelled cells are missing: bool, shape (n, p), Fortran order (a column per vector)."""
        mask = np.empty((self.n_rows, len(self.values)), dtype=bool, order="F")
        for j, v in enumerate(self.values):
            mask[:, j] = np.isnan(v)
        return mask


def check_options(tol: Any, max_iter: Any, ridge: Any, accelerate: Any) -> tuple[float, int, float, bool]:
    """Validate the fitting options against :data:`~imputer.options.MVN_OPTIONS`.

    Returns
    -------
    (tol, max_iter, ridge, accelerate) : (float, int, float, bool)

    Raises
    ------
    ImputerTypeError, ImputerValueError
        The first invalid option, named in the message.
    """
    o = MVN_OPTIONS.check(tol=tol, max_iter=max_iter, ridge=ridge, accelerate=accelerate)
    return o["tol"], o["max_iter"], o["ridge"], o["accelerate"]


#: How a caller of :func:`imputer.impute` leaves a column with no observed value out of the model.
DROP_OR_LEAVE_OUT = "drop it or leave it out of columns="


def no_observed_value(label: Hashable, leave_out: str = DROP_OR_LEAVE_OUT) -> ImputerValueError:
    """The error for a modelled column with no observed value (in memory and on Dask)."""
    return ImputerValueError(f"column {label!r} has no observed value; {leave_out}")


def infinite_value(label: Hashable) -> ImputerValueError:
    """The error for a modelled column holding an infinite value (in memory and on Dask)."""
    return ImputerValueError(f"column {label!r} contains an infinite value; replace it (e.g. by NaN for missing)")


def check_column(label: Hashable, values: np.ndarray, *, leave_out: str = DROP_OR_LEAVE_OUT) -> None:
    """A modelled column must have an observed value and no infinite value.

    Parameters
    ----------
    label : hashable
        The column's label, for the message.
    values : ndarray of float, shape (n,)
        Its values, NaN where missing.
    leave_out : str, default "drop it or leave it out of columns="
        How the caller's user leaves the column out of the model, ending the message about
        a column with no observed value (:class:`imputer.EMImputer`, which has no
        ``columns``: drop it from ``X``).

    Raises
    ------
    ImputerValueError
        Every value missing, or an infinite value.
    """
    if not np.isfinite(values).any():
        raise no_observed_value(label, leave_out)
    if np.isinf(values).any():
        raise infinite_value(label)


def check_prior(prior: Any) -> str:
    """Validate ``prior`` (``"ridge"`` or ``"amelia"``) against :data:`~imputer.options.MVN_OPTIONS`."""
    return str(MVN_OPTIONS["prior"].check(prior))


def check_rows(n: int, p: int, ridge: float) -> None:
    """Without a ridge prior the covariance of ``p`` columns needs more than ``p`` rows.

    Raises
    ------
    ImputerValueError
        ``ridge == 0`` and ``n <= p``.
    """
    if ridge == 0.0 and n <= p:
        raise ImputerValueError(
            f"data has {n} rows for {p} modelled columns: the covariance of p columns needs more than p rows; "
            "pass ridge > 0 (e.g. ridge=1) for a regularised estimate"
        )


def is_dask(data: Any) -> bool:
    """Whether ``data`` is a Dask collection (by module name: Dask is not imported)."""
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr")


def not_for_dask(options: Sequence[str], note: str, *, where: str | None = None) -> ImputerTypeError:
    """The error refusing what a Dask DataFrame does not have: ``"[where: ]a, b: not available for a Dask DataFrame (note)"``.

    The one wording of these refusals (:func:`imputer.impute`, :class:`imputer.EMImputer`,
    the diagnostics): ``options`` are the options (or the function) refused, ``note`` what
    to do instead.
    """
    prefix = f"{where}: " if where else ""
    return ImputerTypeError(f"{prefix}{', '.join(options)}: not available for a Dask DataFrame ({note})")


def refuse_dask(data: Any, function: str | None) -> None:
    """``function`` works on a table in memory: a Dask collection is refused, suggesting ``.compute()``.

    Read as an array, a Dask DataFrame would lose its column labels (``0 .. p-1``) and its
    non-numeric columns would stop the conversion. ``function`` None: the refusal of
    :func:`select` (any in-memory function not naming itself).

    Raises
    ------
    ImputerTypeError
        ``data`` is a Dask DataFrame, Series or Array.
    """
    if not is_dask(data):
        return
    remedy = "pass data.compute() for a table that fits in memory"
    if function is None:
        raise ImputerTypeError(f"data is a Dask {type(data).__name__}, which this function does not take; {remedy}")
    raise not_for_dask([function], f"it works on a table in memory; {remedy}")


def _array_to_frame(data: Any) -> pd.DataFrame:
    refuse_dask(data, None)  # every in-memory function's table (the Dask ones dispatch before this)
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
            try:
                out[i, j] = float(v)
            except OverflowError:  # an int or Fraction beyond float64's range
                raise ImputerValueError(
                    f"data: column {j} (row {i}) holds {_too_large(v)}; rescale the column, e.g. divide it by "
                    "a power of 10"
                ) from None
        else:
            raise ImputerTypeError(f"data: column {j} (row {i}) holds the non-numeric value {v!r}")
    return pd.DataFrame(out)


def select(data: Any, columns: Sequence[Hashable] | None) -> tuple[pd.DataFrame, list[Hashable]]:
    """Validate ``data`` as a table and choose its modelled columns (no check of their values).

    The first half of :func:`prepare`, shared with :func:`imputer.patterns`, which
    tabulates missingness and so accepts a column with no observed value and a single row.

    Returns
    -------
    frame : DataFrame, shape (n, k)
        ``data`` itself when it is a DataFrame, otherwise its DataFrame form.
    chosen : list
        Labels of the modelled columns: ``columns`` in its order, or every numeric column
        of ``frame`` in the frame's order.

    Raises
    ------
    ImputerTypeError
        ``data`` is not tabular or a Dask collection (:func:`refuse_dask`), has no numeric
        column, or a column chosen with ``columns=`` is not numeric.
    ImputerValueError
        Empty data, duplicate column names, an unknown or repeated name in ``columns``.
    """
    frame = data if isinstance(data, pd.DataFrame) else _array_to_frame(data)
    n, k = frame.shape
    if n == 0 or k == 0:
        raise ImputerValueError(f"data is empty ({n} rows x {k} columns)")
    if frame.columns.has_duplicates:
        dup = list(dict.fromkeys(frame.columns[frame.columns.duplicated()]))
        raise ImputerValueError(f"data has duplicate column names: {dup!r}; column names must be unique")
    if columns is None:
        chosen = modelled_columns(frame)
        if not chosen:
            raise ImputerTypeError(
                "data has no numeric column to model (dtypes: "
                + ", ".join(f"{c!r}: {frame[c].dtype}" for c in list(frame.columns)[:10])
                + ")"
            )
        return frame, chosen
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
        if not is_modelled(frame[c]):
            raise ImputerTypeError(f"columns: column {c!r} has non-numeric dtype {frame[c].dtype} and cannot be modelled")
    return frame, chosen


def float_values(series: pd.Series) -> np.ndarray:
    """A numeric column as float64 with NaN for missing (a view when it already is float64)."""
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
    frame, chosen = select(data, columns)
    if frame.shape[0] < 2:
        raise ImputerValueError("data has a single row: estimating a covariance needs at least 2 rows")
    values = []
    for c in chosen:
        v = float_values(frame[c])
        check_column(c, v)
        check_exact_integers(c, frame[c], v)
        values.append(v)
    return Prepared(frame=frame, columns=tuple(chosen), values=tuple(values))


#: integers of larger magnitude are not all representable as float64
_EXACT_INT = 2**53


def check_exact_integers(label: Hashable, series: pd.Series, values: np.ndarray) -> None:
    """An integer column with gaps comes back as floats: its observed integers must survive that.

    A modelled integer column with missing cells is returned as float64 (``Float64``),
    which would round an observed integer beyond ``2**53`` (an identifier, a count in
    nanoseconds): that is an error naming the column and the first such value, rather
    than a silent change of an observed cell. Columns without gaps keep their dtype and
    are not affected.
    """
    if not pd.api.types.is_integer_dtype(series.dtype) or not np.isnan(values).any():
        return
    # unsigned through uint64 (through int64 a value >= 2**63 would wrap round to a negative one)
    as_int = np.uint64 if pd.api.types.is_unsigned_integer_dtype(series.dtype) else np.int64
    ints = series.dropna().to_numpy(dtype=as_int) if series.dtype != as_int else series.to_numpy()
    big = np.abs(ints.astype(np.float64)) >= _EXACT_INT
    if big.any():
        first = int(ints[np.flatnonzero(big)[0]])
        raise ImputerValueError(
            f"column {label!r} holds integers of magnitude 2**53 or more ({first}), which the float64 "
            "values of a completed column would round; leave it out of the model (columns=...) so it is "
            "passed through unchanged, or rescale it"
        )


def check_start(start: Any, columns: tuple[Hashable, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """Validate ``start=(mean, cov)`` of :func:`imputer.impute` for the modelled ``columns``.

    A labelled ``mean`` (Series) and ``cov`` (DataFrame) are aligned to ``columns`` by
    label (extra labels are ignored, missing ones are an error); arrays must already be
    in the columns' order.

    Returns
    -------
    (ndarray, ndarray), shapes (p,) and (p, p), or None
        The mean and the (symmetrised) covariance in original units; None for no start.

    Raises
    ------
    ImputerTypeError
        Not a ``(mean, cov)`` pair, or a non-numeric entry.
    ImputerValueError
        Wrong shape, a label of ``columns`` missing, a non-finite entry, a covariance
        that is not symmetric or not positive definite.
    """
    if start is None:
        return None
    if not isinstance(start, (tuple, list)) or len(start) != 2:
        raise ImputerTypeError(f"start must be a (mean, cov) pair, got {type(start).__name__}")
    mean, cov = start
    p = len(columns)
    labels = list(columns)
    try:
        if isinstance(mean, pd.Series):
            absent = [c for c in labels if c not in mean.index]
            if absent:
                raise ImputerValueError(f"start: the mean has no entry for column(s) {absent!r}")
            mean = mean.loc[labels]
        if isinstance(cov, pd.DataFrame):
            absent = [c for c in labels if c not in cov.index or c not in cov.columns]
            if absent:
                raise ImputerValueError(f"start: the covariance has no row or column for column(s) {absent!r}")
            cov = cov.loc[labels, labels]
        mu = np.array(mean, dtype=float)
        sigma = np.array(cov, dtype=float)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ImputerValueError):
            raise
        raise ImputerTypeError(f"start: the mean and covariance must be numeric ({exc})") from exc
    if mu.shape != (p,) or sigma.shape != (p, p):
        raise ImputerValueError(
            f"start: the mean must have shape ({p},) and the covariance ({p}, {p}) for the {p} modelled column(s), "
            f"got {mu.shape} and {sigma.shape}"
        )
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise ImputerValueError("start: the mean and covariance must be finite")
    scale = np.max(np.abs(sigma)) if sigma.size else 0.0
    if not np.allclose(sigma, sigma.T, rtol=0.0, atol=1e-12 * scale):
        raise ImputerValueError("start: the covariance is not symmetric")
    sigma = 0.5 * (sigma + sigma.T)
    if np.any(np.diag(sigma) <= 0.0) or min_corr_eig(sigma) < SINGULAR_EIG:
        raise ImputerValueError("start: the covariance is not positive definite")
    return mu, sigma


def standardised_start(start: Any, columns: tuple[Hashable, ...], center: np.ndarray,
                       scale: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`check_start`, then in the engine's standardised units ``(x - center) / scale``.

    Returns
    -------
    (ndarray, ndarray), shapes (p,) and (p, p), or None
    """
    given = check_start(start, columns)
    return None if given is None else start_in_units(given, center, scale)


def start_in_units(given: tuple[np.ndarray, np.ndarray], center: np.ndarray,
                   scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A checked start (:func:`check_start`) in the units ``(x - center) / scale``."""
    return (given[0] - center) / scale, given[1] / np.outer(scale, scale)
