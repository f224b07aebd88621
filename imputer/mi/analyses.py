r"""Per-imputation analyses, ready for Rubin's rules: :class:`Analyses` and :func:`analyze`.

An analysis ``fn`` run on each completed table ``j = 1..m`` gives estimates
``Q_j`` (``k`` terms) and their estimated covariance ``U_j`` (``k x k``). Rubin's rules
(:func:`imputer.mi.pool.pool`) combine them: ``Qbar = mean Q_j``, ``Ubar = mean U_j``,
``B = var Q_j``, ``T = Ubar + (1 + 1/m) B``. ``fn`` returns either an object with
``params`` and ``cov_params()`` (any statsmodels results object; its ``df_resid`` is the
complete-data degrees of freedom) or a pair ``(estimates, covariance or standard errors)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imputer._frozen import ReadOnlyField, same_fields
from imputer._util import readonly
from imputer.errors import ImputerTypeError, ImputerValueError

__all__ = ["Analyses", "analyze"]


@dataclass(frozen=True, eq=False)
class Analyses:
    """The ``m`` analyses of a :class:`~imputer.mi.result.MultipleImputation`.

    Attributes
    ----------
    estimates : DataFrame, shape (m, k)
        ``Q_j``: one row per imputation (index ``.imp``, 1..m), one column per term.
    variances : ndarray, shape (m, k, k), read-only
        ``U_j``: the estimates' covariance matrix per imputation (terms in the columns'
        order; diagonal when the analysis gave standard errors).
    dfcom : float or None
        Complete-data residual degrees of freedom when every analysis reported
        ``df_resid`` (statsmodels), the smallest of them; else None.
    """

    estimates: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    variances: np.ndarray
    dfcom: float | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Analyses):
            return NotImplemented
        return self is other or same_fields(self, other)

    def __hash__(self) -> int:
        return hash(("Analyses", self.variances.shape, self.dfcom))

    @property
    def terms(self) -> list[Any]:
        """The term names (the estimates' columns)."""
        return list(self.estimates.columns)

    def pool(self, dfcom: float | None = None, conf_level: float = 0.95) -> Any:
        """Rubin's rules on the analyses (:func:`imputer.mi.pool.pool`).

        Parameters
        ----------
        dfcom : float, optional
            Complete-data degrees of freedom for the Barnard-Rubin (1999) small-sample df.
            Default, as ``mice::pool``: the analyses' residual df (:attr:`dfcom`) when they
            reported it, else none (Rubin's 1987 large-sample df). An explicit value wins
            (``math.inf`` gives Rubin's 1987 df even when the analyses report a residual df).
        conf_level : float, default 0.95
            Confidence level of the intervals.

        Returns
        -------
        Pooled
            ``.table`` indexed by term (estimate, ubar, b, t, se, df, riv, lambda, fmi,
            statistic, p_value, ci_low, ci_high).
        """
        from imputer.mi.pool import pool

        return pool(self.estimates, self.variances, dfcom=self.dfcom if dfcom is None else dfcom, conf_level=conf_level)


def _as_vector(j: int, what: str, value: Any) -> pd.Series:
    if isinstance(value, pd.DataFrame) and value.shape[1] == 1:
        value = value.iloc[:, 0]
    if isinstance(value, pd.Series):
        out = value
    else:
        arr = np.asarray(value)
        if arr.ndim != 1:
            raise ImputerValueError(f"analyze: imputation {j}: the {what} must be 1-D, got shape {arr.shape}")
        out = pd.Series(arr)
    try:
        out = out.astype(float)
    except (TypeError, ValueError):
        raise ImputerValueError(f"analyze: imputation {j}: the {what} are not numbers") from None
    if out.index.has_duplicates:
        raise ImputerValueError(f"analyze: imputation {j}: the {what} have duplicate term names")
    return out


def _one(j: int, result: Any) -> tuple[pd.Series, np.ndarray, float | None]:
    """``(estimates, covariance (k, k), df_resid)`` of one analysis result."""
    df_resid = getattr(result, "df_resid", None)
    if hasattr(result, "params") and callable(getattr(result, "cov_params", None)):
        est = _as_vector(j, "estimates", result.params)
        if not isinstance(result.params, pd.Series):
            names = getattr(getattr(result, "model", None), "exog_names", None)
            if names is not None and len(names) == est.size:
                est.index = pd.Index(list(names))
        cov: Any = result.cov_params()
    elif isinstance(result, (tuple, list)) and len(result) == 2:
        est = _as_vector(j, "estimates", result[0])
        cov = result[1]
    else:
        raise ImputerTypeError(
            f"analyze: imputation {j}: fn returned {type(result).__name__}; return an object with params and "
            "cov_params() (a statsmodels result) or a pair (estimates, covariance or standard errors)"
        )
    k = est.size
    if isinstance(cov, pd.DataFrame) or (not isinstance(cov, pd.Series) and np.ndim(cov) == 2):
        if isinstance(cov, pd.DataFrame) and cov.shape == (k, k):
            labels = set(est.index)
            if set(cov.index) == labels and set(cov.columns) == labels:
                cov = cov.loc[est.index, est.index]
            elif not (isinstance(cov.index, pd.RangeIndex) and isinstance(cov.columns, pd.RangeIndex)):
                raise ImputerValueError(
                    f"analyze: imputation {j}: the covariance's row/column labels do not match the estimates' "
                    f"terms {list(est.index)!r}"
                )
        mat = np.asarray(cov, dtype=float)
        if mat.shape != (k, k):
            raise ImputerValueError(
                f"analyze: imputation {j}: the covariance must be {k} x {k} (one row and column per estimate), "
                f"got shape {mat.shape}"
            )
    else:
        se = _as_vector(j, "standard errors", cov)
        if se.size != k:
            raise ImputerValueError(f"analyze: imputation {j}: {se.size} standard errors for {k} estimates")
        if isinstance(cov, pd.Series) and not isinstance(cov.index, pd.RangeIndex):
            if set(se.index) != set(est.index):
                raise ImputerValueError(
                    f"analyze: imputation {j}: the standard errors' labels {list(se.index)!r} do not match the "
                    f"estimates' terms {list(est.index)!r}"
                )
            se = se.loc[est.index]
        mat = np.diag(se.to_numpy() ** 2)
    if not (np.all(np.isfinite(est.to_numpy())) and np.all(np.isfinite(mat))):
        raise ImputerValueError(f"analyze: imputation {j}: an estimate or variance is not finite")
    df = None
    if df_resid is not None:
        try:
            df = float(df_resid)
        except (TypeError, ValueError):
            df = None
    return est, mat, df


def analyze(fn: Callable[[pd.DataFrame], Any], imputations: Sequence[pd.DataFrame]) -> Analyses:
    """Run ``fn`` on each imputation in order and collect its estimates (see :class:`Analyses`).

    Raises
    ------
    ImputerTypeError
        ``fn`` is not callable, or returned neither a statsmodels-like result nor a pair.
    ImputerValueError
        ``fn`` raised on imputation ``j`` (chained), a malformed result, or terms that
        differ between imputations.
    """
    if not callable(fn):
        raise ImputerTypeError(f"analyze: fn must be callable, got {type(fn).__name__}")
    ests: list[pd.Series] = []
    mats: list[np.ndarray] = []
    dfs: list[float | None] = []
    for j, frame in enumerate(imputations, start=1):
        try:
            result = fn(frame)
        except Exception as exc:
            raise ImputerValueError(f"analyze: fn raised on imputation {j}: {type(exc).__name__}: {exc}") from exc
        est, mat, df = _one(j, result)
        if ests and not est.index.equals(ests[0].index):
            raise ImputerValueError(
                f"analyze: imputation {j}: terms {list(est.index)!r} differ from imputation 1's {list(ests[0].index)!r}"
            )
        ests.append(est)
        mats.append(mat)
        dfs.append(df)
    terms = ests[0].index
    estimates = pd.DataFrame(
        np.vstack([e.to_numpy() for e in ests]), index=pd.RangeIndex(1, len(ests) + 1, name=".imp"), columns=terms
    )
    dfcom = None
    if all(d is not None and math.isfinite(d) for d in dfs):
        dfcom = float(min(d for d in dfs if d is not None))
    return Analyses(estimates=estimates, variances=readonly(np.stack(mats)), dfcom=dfcom)
