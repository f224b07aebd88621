r"""``mcar_test``: Little's (1988) chi-square test of missing completely at random.

Model. The modelled columns of row ``i`` are ``x_i ~ N_p(mu, Sigma)``, i.i.d. Group the rows
by missingness pattern ``g`` (``n_g`` rows observing the ``p_g`` columns ``O_g``, with
observed-column mean ``ybar_g``). If the data are missing completely at random (MCAR:
whether a cell is missing depends on nothing, observed or not), every pattern's rows are
a random sample of the same population, so ``ybar_g`` estimates ``mu_{O_g}``. Little's
statistic is

.. math::

    d^2 = \sum_g n_g\, (\bar y_g - \hat\mu_{O_g})^\top\, \hat\Sigma_{O_g O_g}^{-1}\,
          (\bar y_g - \hat\mu_{O_g}),
    \qquad \mathrm{df} = \sum_g p_g - p,

with ``(mu_hat, Sigma_hat)`` the maximum-likelihood estimate from the incomplete data
(EM, :func:`imputer.impute` with ``ridge=0``, run to ``tol=1e-10`` so that the
statistic is the one at the MLE, not at an early stop of EM). Under MCAR and normality
``d^2`` is asymptotically chi-square with ``df`` degrees of freedom; the p-value is
``P(chi2_df >= d^2)``.

Conventions.

* A pattern that observes no modelled column (``p_g = 0``) has no mean to compare; its
  rows are left out of the statistic. It adds nothing to ``df`` either (``p_g = 0``),
  and it is not counted in ``n_patterns``; ``n_rows_excluded`` says how many rows it had.
* ``df = 0`` (a single pattern -- e.g. no missing cell --, or patterns that share no
  observed column) leaves nothing to test: at the MLE each ``ybar_g`` then equals
  ``mu_hat_{O_g}``, so the statistic is 0, and the p-value is NaN (``None`` in
  ``to_dict()``), not 1, which would read as evidence for MCAR.

The statistic is affine invariant; it is computed on columns standardised by the
estimate (``Sigma`` as a correlation matrix), batched over the patterns with the same
number of missing columns.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imputer._frozen import ReadOnlyField, same_fields
from imputer._gaussian.patterns import build_patterns
from imputer._json import json_labels, json_value, labelled_values, square_frame
from imputer._render import render_fields, render_table, render_title
from imputer.errors import ImputerValueError
from imputer.mvn._validate import check_options, prepare, refuse_dask

__all__ = ["MCARTest", "mcar_test", "little_statistic", "MCAR_TOL", "MCAR_MAX_ITER"]

#: EM tolerance of the estimate the test uses (tight: the statistic at the MLE).
MCAR_TOL: float = 1e-10
#: EM iteration limit of the estimate the test uses.
MCAR_MAX_ITER: int = 10_000

#: entries of the batched ``(G, q, q)`` covariance blocks formed at once
_BLOCK_ENTRIES = 2_000_000


@dataclass(frozen=True, eq=False)
class MCARTest:
    """Little's MCAR test: statistic, degrees of freedom, p-value and the estimate used.

    A value (``==`` compares every field, ``hash`` agrees; pandas fields are read-only
    views, see :mod:`imputer._frozen`).

    Attributes
    ----------
    statistic : float
        Little's ``d^2`` (0 when ``df == 0``).
    df : int
        Degrees of freedom ``sum_g p_g - p`` over the patterns used.
    p_value : float
        ``P(chi2_df >= statistic)``; NaN when ``df == 0`` (nothing to test).
    n_patterns : int
        Patterns used: every distinct pattern that observes at least one modelled column.
    n_rows : int
        Rows of the data.
    n_rows_excluded : int
        Rows observing no modelled column (left out of the statistic).
    mean : Series, shape (p,)
        The EM (maximum-likelihood) mean the statistic is computed at.
    cov : DataFrame, shape (p, p)
        The EM (maximum-likelihood, divisor ``n``) covariance.
    columns : tuple
        Labels of the modelled columns (``p``).
    converged : bool
        Whether EM met its tolerance (if not, the statistic is not at the MLE and a
        :class:`~imputer.errors.ConvergenceWarning` was issued).
    n_iter : int
        EM iterations.
    tol : float
        EM tolerance used.
    """

    statistic: float
    df: int
    p_value: float
    n_patterns: int
    n_rows: int
    n_rows_excluded: int
    mean: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    cov: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    columns: tuple[Hashable, ...]
    converged: bool
    n_iter: int
    tol: float

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MCARTest):
            return NotImplemented
        return self is other or same_fields(self, other)

    def __hash__(self) -> int:
        return hash(("MCARTest", self.df, self.n_patterns, self.n_rows, self.n_iter))

    @property
    def testable(self) -> bool:
        """Whether there is anything to test (``df > 0``)."""
        return self.df > 0

    def summary(self) -> str:
        """Readable text: the test, its verdict at 5% in words, and the estimate used."""
        if not self.testable:
            verdict = "nothing to test (df = 0: a single pattern, or patterns sharing no observed column)"
        elif self.p_value < 0.05:
            verdict = "reject MCAR at the 5% level: the missingness is related to the values"
        else:
            verdict = "no evidence against MCAR at the 5% level (this does not show the data are MCAR)"
        fields = [
            ("chi-square statistic", self.statistic),
            ("degrees of freedom", self.df),
            ("p-value", self.p_value),
            ("verdict", verdict),
            ("patterns used", self.n_patterns),
            ("rows", self.n_rows),
            ("rows observing nothing (excluded)", self.n_rows_excluded),
            ("EM converged", self.converged),
            ("EM iterations", self.n_iter),
        ]
        est = pd.DataFrame({"mean": self.mean, "sd": np.sqrt(np.diag(self.cov.to_numpy(dtype=float)))})
        return "\n".join(
            [
                render_title("Little's MCAR test"),
                render_fields(fields),
                "",
                "At the EM estimate (maximum likelihood)",
                render_table(est),
                "",
                "Assumes multivariate normality; it cannot tell MAR from MNAR.",
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the wire convention of :mod:`imputer._json`).

        Returns
        -------
        dict
            ``statistic``, ``df``, ``p_value`` (None when NaN), ``n_patterns``, ``n_rows``,
            ``n_rows_excluded``, ``columns``, ``mean`` (object keyed by column),
            ``cov`` (``{"columns", "data"}``), ``converged``, ``n_iter``, ``tol``.
        """
        return {
            "statistic": json_value(self.statistic),
            "df": int(self.df),
            "p_value": json_value(self.p_value),
            "n_patterns": int(self.n_patterns),
            "n_rows": int(self.n_rows),
            "n_rows_excluded": int(self.n_rows_excluded),
            "columns": json_labels(self.columns),
            "mean": labelled_values(self.__dict__["mean"].astype(float)),
            "cov": square_frame(self.__dict__["cov"]),
            "converged": bool(self.converged),
            "n_iter": int(self.n_iter),
            "tol": float(self.tol),
        }


def little_statistic(values: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> tuple[float, int, int, int]:
    """Little's ``d^2`` at a given estimate (private kernel: clean input assumed).

    Parameters
    ----------
    values : ndarray of float, shape (n, p)
        Data, NaN where missing.
    mean : ndarray, shape (p,)
    cov : ndarray, shape (p, p)
        Positive definite.

    Returns
    -------
    statistic : float
    df : int
        ``sum_g p_g - p`` over the patterns observing something.
    n_patterns : int
        Patterns observing something.
    n_rows_excluded : int
        Rows observing nothing.
    """
    x = np.asarray(values, dtype=float)
    n, p = x.shape
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    z = (x - mean) / sd
    mask = np.isnan(z)
    z[mask] = 0.0
    pats = build_patterns(mask)
    stat, sum_pg, n_used, excluded = 0.0, 0, 0, 0
    if pats.complete_rows.size:
        zbar = z[pats.complete_rows].mean(axis=0)
        stat += pats.complete_rows.size * float(zbar @ np.linalg.solve(corr, zbar))
        sum_pg += p
        n_used += 1
    for g in pats.groups:
        q = p - g.n_miss
        if q == 0:
            excluded += g.n_rows
            continue
        n_pat = g.n_patterns
        counts = np.asarray(g.counts, dtype=float)
        starts = np.concatenate(([0], np.cumsum(g.counts)[:-1]))
        zbar = np.add.reduceat(z[g.rows], starts, axis=0) / counts[:, None]  # rows are sorted by pattern
        observed = np.ones((n_pat, p), dtype=bool)
        observed[np.arange(n_pat)[:, None], g.miss] = False
        obs = np.nonzero(observed)[1].reshape(n_pat, q)
        step = max(1, _BLOCK_ENTRIES // (q * q))
        for lo in range(0, n_pat, step):
            o = obs[lo : lo + step]
            d = np.take_along_axis(zbar[lo : lo + step], o, axis=1)
            block = corr[o[:, :, None], o[:, None, :]]
            sol = np.linalg.solve(block, d[:, :, None])[:, :, 0]
            stat += float(counts[lo : lo + step] @ np.einsum("gi,gi->g", d, sol))
        sum_pg += q * n_pat
        n_used += n_pat
    return stat, sum_pg - p, n_used, excluded


def mcar_test(
    data: pd.DataFrame | Any,
    columns: Sequence[Hashable] | None = None,
    *,
    tol: float = MCAR_TOL,
    max_iter: int = MCAR_MAX_ITER,
) -> MCARTest:
    """Little's (1988) chi-square test that the data are missing completely at random.

    What it can tell: a small p-value says the rows of different missingness patterns
    have different means on the columns they observe, so the data are *not* missing
    completely at random (MCAR): whether a cell is missing is related to the values. An
    analysis of the complete rows only is then biased; EM imputation (which assumes
    missing at random, MAR) may still be valid.

    What it cannot tell: a large p-value does not show the data are MCAR (the test has
    little power with few incomplete rows, and it only compares means: missingness that
    changes variances or depends on the missing values themselves can pass). No test on
    the observed data can tell MAR from missing not at random (MNAR): the test cannot
    confirm MAR. It assumes multivariate normality (heavy tails or skewness inflate the
    statistic) and is asymptotic (patterns with very few rows make the chi-square
    approximation rough).

    See the module docstring for the statistic, the degrees of freedom and how
    patterns that observe nothing and ``df = 0`` are treated.

    Parameters
    ----------
    data : DataFrame or 2-D array-like, shape (n, k)
        Missing cells are NaN, None or ``pd.NA``; numeric columns are modelled, others
        ignored (as in :func:`imputer.impute`).
    columns : sequence of labels, optional
        Columns to test (numeric); default: every numeric column.
    tol, max_iter : float, int
        EM tolerance and iteration limit of the maximum-likelihood estimate (the
        defaults give the MLE to about 1e-10 standard deviations).

    Returns
    -------
    MCARTest
        ``statistic``, ``df``, ``p_value``, ``n_patterns``, the EM ``mean``/``cov`` used,
        ``summary()``, ``to_dict()``.

    Raises
    ------
    ImputerValueError
        As :func:`imputer.impute` (empty data, a single row, a column with no observed
        value, an infinite value, a constant column, ...), ``n <= p`` (the maximum
        likelihood covariance needs more rows than columns), and an exactly singular
        estimate (the statistic is then undefined).
    ImputerTypeError
        As :func:`imputer.impute` (no numeric column, a non-numeric column in ``columns``,
        an option of the wrong type); ``data`` a Dask DataFrame (in memory only: pass
        ``ddf.compute()``).

    Warns
    -----
    ConvergenceWarning
        EM did not converge (the statistic is then not at the MLE; ``converged`` is False).

    Examples
    --------
    >>> import pandas as pd
    >>> import imputer
    >>> air = pd.read_csv("tests/data/airquality.csv")  # doctest: +SKIP
    >>> t = imputer.mcar_test(air)  # doctest: +SKIP
    >>> round(t.statistic, 4), t.df, round(t.p_value, 5)  # doctest: +SKIP
    (35.1062, 14, 0.00142)
    """
    from scipy.stats import chi2

    from imputer.mvn.api import impute

    refuse_dask(data, "imputer.mcar_test")
    tol, max_iter, _, _ = check_options(tol, max_iter, 0.0, True)
    prep = prepare(data, columns)
    n, p = prep.n_rows, len(prep.columns)
    if n <= p:
        raise ImputerValueError(
            f"data has {n} rows for {p} modelled columns: the maximum-likelihood covariance the test "
            "needs requires more rows than columns"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = impute(prep.frame, columns=list(prep.columns), tol=tol, max_iter=max_iter)
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    values = np.column_stack(prep.values)
    try:
        stat, df, n_used, excluded = little_statistic(
            values, fit.mean.to_numpy(dtype=float), fit.cov.to_numpy(dtype=float)
        )
    except np.linalg.LinAlgError:
        stat = math.nan
    if not math.isfinite(stat):
        raise ImputerValueError(
            "the maximum-likelihood covariance is singular (collinear columns, or too few rows "
            "observing some columns together): Little's test is undefined for these data"
        )
    if df == 0:
        stat, p_value = 0.0, math.nan  # at the MLE every pattern mean equals mu_hat (rounding aside)
    else:
        p_value = float(chi2.sf(stat, df))
    return MCARTest(
        statistic=float(stat),
        df=int(df),
        p_value=p_value,
        n_patterns=int(n_used),
        n_rows=n,
        n_rows_excluded=int(excluded),
        mean=fit.mean,
        cov=fit.cov,
        columns=prep.columns,
        converged=bool(fit.converged),
        n_iter=int(fit.n_iter),
        tol=float(tol),
    )
