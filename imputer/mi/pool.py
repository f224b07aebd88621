r"""Rubin's rules: combine ``m`` analyses of multiply imputed data into one.

Each of the ``m`` completed data sets gives estimates ``Q_l`` (``k`` terms) and their
estimated covariance ``U_l`` (or only the variances). For each term (Rubin 1987; the
formulas and names of R's ``mice::pool`` and ``mice::pool.scalar``, mice 3.x):

.. math::

    \bar Q = \frac1m \sum_l Q_l, \qquad
    \bar U = \frac1m \sum_l U_l, \qquad
    B = \frac1{m-1} \sum_l (Q_l - \bar Q)^2, \qquad
    T = \bar U + (1 + \tfrac1m) B,

the relative increase in variance ``riv = (1 + 1/m) B / Ubar``, the proportion of the
variance due to missingness ``lambda = (1 + 1/m) B / T`` and the degrees of freedom

.. math::

    \nu_{old} = \frac{m - 1}{\lambda^2}, \qquad
    \nu_{obs} = \frac{\nu_{com} + 1}{\nu_{com} + 3}\, \nu_{com} (1 - \lambda), \qquad
    \nu = \frac{\nu_{old}\,\nu_{obs}}{\nu_{old} + \nu_{obs}},

Barnard and Rubin's (1999) small-sample degrees of freedom when the complete-data
degrees of freedom ``nu_com`` (``dfcom``) are given, and Rubin's (1987) ``nu_old`` when
they are not (``dfcom=None``, or infinite). As in mice, ``lambda`` is floored at
``1e-4`` inside the degrees of freedom only (so a term with no between-imputation
variance gets a large, finite ``nu``). The fraction of missing information is mice's
``fmi = (riv + 2 / (nu + 3)) / (riv + 1)``. The test statistic is ``Qbar / sqrt(T)``
with a two-sided p-value from Student's t on ``max(nu, 0.001)`` degrees of freedom (as
mice's ``summary.mipo``: ``nu`` is 0 when ``dfcom`` is given and a term has no
within-imputation variance), and the interval ``Qbar +- t_{nu, 1 - alpha/2} sqrt(T)``
(NaN when ``nu`` is 0, as in mice's ``confint.mipo``). Unlike ``mice::pool``, which
raises a given ``dfcom`` below 1 to 1 (``pool.scalar`` does not), any ``dfcom > 0`` is
used as given.

With full covariance matrices the pooled total covariance
``T = Ubar + (1 + 1/m) B`` (``B`` the between-imputation covariance matrix) is kept as
:attr:`Pooled.cov`, for Wald tests of several terms; the table uses its diagonal.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imputer._frozen import ReadOnlyField, same_fields
from imputer._json import json_value, labelled_values, square_frame
from imputer._render import render_fields, render_table, render_title
from imputer.errors import ImputerTypeError, ImputerValueError

__all__ = ["Pooled", "pool", "TABLE_COLUMNS"]

#: The columns of :attr:`Pooled.table`, in order.
TABLE_COLUMNS: tuple[str, ...] = (
    "estimate", "ubar", "b", "t", "se", "df", "riv", "lambda", "fmi",
    "statistic", "p_value", "ci_low", "ci_high",
)  # fmt: skip

#: mice's floor on lambda inside the degrees of freedom
_LAMBDA_FLOOR = 1e-4
#: mice's floor on the degrees of freedom of the p-value (``summary.mipo``)
_P_DF_FLOOR = 1e-3


@dataclass(frozen=True, eq=False)
class Pooled:
    """Rubin's-rules combination of ``m`` analyses (see the module docstring).

    Attributes
    ----------
    table : DataFrame, shape (k, 13)
        Indexed by term; columns ``estimate`` (Qbar), ``ubar`` (mean within-imputation
        variance), ``b`` (between-imputation variance), ``t`` (total variance), ``se``
        (``sqrt(t)``), ``df``, ``riv``, ``lambda``, ``fmi``, ``statistic``
        (``estimate / se``), ``p_value`` (two-sided), ``ci_low``, ``ci_high``.
    cov : DataFrame, shape (k, k)
        Total covariance ``Ubar + (1 + 1/m) B`` (diagonal only when variances, not
        covariance matrices, were pooled: the off-diagonal entries are then NaN).
    m : int
        Number of analyses pooled.
    dfcom : float or None
        Complete-data degrees of freedom (None: Rubin's 1987 df).
    conf_level : float
        Level of the intervals.
    """

    table: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    cov: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    m: int
    dfcom: float | None
    conf_level: float

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pooled):
            return NotImplemented
        return self is other or same_fields(self, other)

    def __hash__(self) -> int:
        return hash(("Pooled", self.m, self.dfcom, self.conf_level, tuple(self.table.index)))

    def summary(self) -> str:
        """Readable text: the options and the pooled table."""
        pct = f"{100 * self.conf_level:g}%"
        fields = [
            ("imputations", self.m),
            ("complete-data df", "none (Rubin 1987 df)" if self.dfcom is None else self.dfcom),
            ("intervals", pct),
        ]
        shown = self.table[["estimate", "se", "df", "statistic", "p_value", "ci_low", "ci_high", "fmi"]]
        shown = shown.rename(columns={"ci_low": f"{pct} low", "ci_high": f"{pct} high"})
        return "\n".join(
            [render_title("Pooled by Rubin's rules"), render_fields(fields), "", render_table(shown, digits=5)]
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: ``terms``, ``table`` (column -> {term: value}), ``cov``, options."""
        return {
            "terms": [str(t) for t in self.table.index],
            "table": {c: labelled_values(self.table[c]) for c in self.table.columns},
            "cov": square_frame(self.cov),
            "m": int(self.m),
            "dfcom": json_value(self.dfcom),
            "conf_level": float(self.conf_level),
        }


def pool(
    estimates: pd.DataFrame | np.ndarray | Sequence[Any],
    variances: Any,
    *,
    dfcom: float | None = None,
    conf_level: float = 0.95,
) -> Pooled:
    """Combine ``m`` analyses by Rubin's rules, as R's ``mice::pool`` does.

    Parameters
    ----------
    estimates : DataFrame or array-like, shape (m, k), or sequence of length m
        One row per imputation, one column per term (a DataFrame's columns name the
        terms; otherwise ``0 .. k-1``, or ``"estimate"`` for a single scalar given as a
        length-m sequence). A sequence of ``m`` Series is stacked by term name.
    variances : array-like, shape (m, k, k) or (m, k), or sequence of m DataFrames or Series
        Each imputation's covariance matrix of its estimates (e.g. statsmodels'
        ``cov_params()``), or only their variances (``(m, k)``; squared standard errors;
        length-m for one scalar). With labelled estimates, labelled variances (the
        DataFrames' index and columns, the Series' index, a DataFrame's columns) must
        name the same terms in the same order.
    dfcom : float, optional
        Complete-data degrees of freedom (e.g. residual df ``n - k`` of a regression):
        Barnard-Rubin (1999) small-sample df. None (default) or ``inf``: Rubin's
        (1987) large-sample df.
    conf_level : float, default 0.95
        Level of the confidence intervals, in (0, 1).

    Returns
    -------
    Pooled

    Raises
    ------
    ImputerValueError
        Fewer than two analyses, shapes that do not agree, a non-finite estimate or
        variance, a negative variance, ``dfcom <= 0``, ``conf_level`` outside (0, 1).
    ImputerTypeError
        ``dfcom`` or ``conf_level`` not a number.

    Examples
    --------
    >>> import imputer
    >>> res = imputer.pool([1.0, 1.2, 0.9], [0.04, 0.05, 0.045])
    >>> round(float(res.table.loc["estimate", "estimate"]), 4)
    1.0333
    """
    q, terms = _estimates(estimates)
    m, k = q.shape
    labelled = isinstance(estimates, pd.DataFrame) or (
        isinstance(estimates, (list, tuple)) and bool(estimates) and isinstance(estimates[0], pd.Series)
    )
    u_full, has_cov = _variances(variances, m, k, terms, labelled)
    dfc = _dfcom(dfcom)
    level = _conf_level(conf_level)
    table, total = _pool(q, u_full, dfc, level)
    labels = pd.Index(terms, tupleize_cols=False)
    if not has_cov:
        total = np.where(np.eye(k, dtype=bool), total, np.nan)
    return Pooled(
        table=pd.DataFrame(table, index=labels, columns=list(TABLE_COLUMNS)),
        cov=pd.DataFrame(total, index=labels, columns=labels),
        m=m,
        dfcom=dfc,
        conf_level=level,
    )


def _pool(q: np.ndarray, u: np.ndarray, dfcom: float | None, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Rubin's rules on clean input: ``q`` (m, k), ``u`` (m, k, k); the table (k, 13) and T."""
    from scipy import special  # lazily: keeps ``import imputer`` light

    m = q.shape[0]
    qbar = q.mean(axis=0)
    ubar_mat = u.mean(axis=0)
    dev = q - qbar
    b_mat = dev.T @ dev / (m - 1)
    total = ubar_mat + (1.0 + 1.0 / m) * b_mat
    ubar, b, t = np.diag(ubar_mat).copy(), np.diag(b_mat).copy(), np.diag(total).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1.0 + 1.0 / m) * b / ubar
        lam = (1.0 + 1.0 / m) * b / t
        lam_df = np.maximum(lam, _LAMBDA_FLOOR)
        df_old = (m - 1) / lam_df**2
        if dfcom is None:
            df = df_old
        else:
            df_obs = (dfcom + 1.0) / (dfcom + 3.0) * dfcom * (1.0 - lam_df)
            df = df_old * df_obs / (df_old + df_obs)
        fmi = (riv + 2.0 / (df + 3.0)) / (riv + 1.0)
        se = np.sqrt(t)
        stat = qbar / se
        p_value = 2.0 * special.stdtr(np.maximum(df, _P_DF_FLOOR), -np.abs(stat))
        half = special.stdtrit(df, 0.5 + level / 2.0) * se
    table = np.column_stack([qbar, ubar, b, t, se, df, riv, lam, fmi, stat, p_value, qbar - half, qbar + half])
    return table, total


def _estimates(estimates: Any) -> tuple[np.ndarray, list[Hashable]]:
    """``(q, terms)``: the estimates as an (m, k) float array and the term labels."""
    if isinstance(estimates, pd.DataFrame):
        terms = list(estimates.columns)
        q = _float_array(estimates.to_numpy(), "estimates")
    elif isinstance(estimates, (list, tuple)) and estimates and all(isinstance(e, pd.Series) for e in estimates):
        terms = list(estimates[0].index)
        for l, e in enumerate(estimates[1:], start=2):
            if list(e.index) != terms:
                raise ImputerValueError(
                    f"estimates: analysis {l} has terms {list(e.index)!r}, analysis 1 has {terms!r}"
                )
        q = _float_array(np.vstack([e.to_numpy() for e in estimates]), "estimates")
    else:
        q = _float_array(estimates, "estimates")
        if q.ndim == 1:
            q = q[:, None]
            terms = ["estimate"]
        elif q.ndim == 2:
            terms = list(range(q.shape[1]))
        else:
            raise ImputerValueError(f"estimates must be (m, k) or a length-m sequence; got {q.ndim} dimensions")
    if q.ndim != 2:
        raise ImputerValueError(f"estimates must be (m, k) or a length-m sequence; got {q.ndim} dimensions")
    if q.shape[0] < 2:
        raise ImputerValueError(f"estimates: pooling needs at least 2 analyses (imputations); got {q.shape[0]}")
    if q.shape[1] < 1:
        raise ImputerValueError("estimates: no term to pool")
    _finite(q, "estimates")
    return q, terms


def _variances(
    variances: Any, m: int, k: int, terms: list[Hashable], labelled: bool
) -> tuple[np.ndarray, bool]:
    """``(u, has_cov)``: the variances as (m, k, k) matrices; whether full matrices were given."""
    if isinstance(variances, (list, tuple)) and variances and all(isinstance(v, pd.DataFrame) for v in variances):
        for l, v in enumerate(variances, start=1):
            if v.shape != (k, k):
                raise ImputerValueError(
                    f"variances: covariance {l} has shape {v.shape}; the estimates have {k} terms, so ({k}, {k})"
                )
            if labelled and (list(v.index) != terms or list(v.columns) != terms):
                raise ImputerValueError(
                    f"variances: covariance {l} is labelled {list(v.index)!r}, the estimates {terms!r}"
                )
        u = _float_array(np.stack([v.to_numpy() for v in variances]), "variances")
    elif isinstance(variances, (list, tuple)) and variances and all(isinstance(v, pd.Series) for v in variances):
        for l, v in enumerate(variances, start=1):
            if len(v) != k or (labelled and list(v.index) != terms):
                raise ImputerValueError(
                    f"variances: analysis {l} has terms {list(v.index)!r}, the estimates {terms!r}"
                )
        u = _float_array(np.vstack([v.to_numpy() for v in variances]), "variances")
    elif isinstance(variances, pd.DataFrame):
        if labelled and variances.shape[1] == k and list(variances.columns) != terms:
            raise ImputerValueError(
                f"variances: the columns are {list(variances.columns)!r}, the estimates' terms {terms!r}"
            )
        u = _float_array(variances.to_numpy(), "variances")
    else:
        u = _float_array(variances, "variances")
    if u.ndim == 1 and k == 1:
        u = u[:, None]
    if u.ndim == 2:
        if u.shape != (m, k):
            raise ImputerValueError(f"variances must be (m, k) = ({m}, {k}) or (m, k, k); got shape {u.shape}")
        _finite(u, "variances")
        if (u < 0).any():
            raise ImputerValueError("variances: a variance is negative")
        full = np.zeros((m, k, k))
        idx = np.arange(k)
        full[:, idx, idx] = u
        return full, False
    if u.ndim != 3 or u.shape != (m, k, k):
        raise ImputerValueError(f"variances must be (m, k) = ({m}, {k}) or (m, k, k); got shape {u.shape}")
    _finite(u, "variances")
    if (np.diagonal(u, axis1=1, axis2=2) < 0).any():
        raise ImputerValueError("variances: a covariance matrix has a negative diagonal entry")
    return u, True


def _float_array(value: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ImputerTypeError(f"{name} must be numbers: {exc}") from None
    return arr


def _finite(arr: np.ndarray, name: str) -> None:
    if not np.isfinite(arr).all():
        l, *rest = np.argwhere(~np.isfinite(arr))[0]
        where = f"analysis {l + 1}" + (f", term {rest[0]}" if rest else "")
        raise ImputerValueError(f"{name}: a value is missing or infinite ({where})")


def _dfcom(dfcom: Any) -> float | None:
    if dfcom is None:
        return None
    if isinstance(dfcom, bool) or not isinstance(dfcom, numbers.Real):
        raise ImputerTypeError(f"dfcom must be a number > 0 or None; got {type(dfcom).__name__}")
    value = float(dfcom)
    if math.isnan(value) or value <= 0:
        raise ImputerValueError(f"dfcom must be a number > 0 or None; got {dfcom!r}")
    return None if math.isinf(value) else value


def _conf_level(level: Any) -> float:
    if isinstance(level, bool) or not isinstance(level, numbers.Real):
        raise ImputerTypeError(f"conf_level must be a number in (0, 1); got {type(level).__name__}")
    value = float(level)
    if not 0.0 < value < 1.0:
        raise ImputerValueError(f"conf_level must be a number in (0, 1); got {level!r}")
    return value
