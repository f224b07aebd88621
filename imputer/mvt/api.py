r"""``impute_t``: multivariate-t EM imputation of an incomplete table (robust to outliers).

Model. The modelled columns of row ``i`` are ``x_i ~ t_p(mu, Sigma, nu)`` i.i.d. (location
``mu``, scale matrix ``Sigma``, ``nu`` degrees of freedom), with cells missing at random.
Equivalently ``x_i | tau_i ~ N_p(mu, Sigma / tau_i)``, ``tau_i ~ Gamma(nu/2, rate nu/2)``:
a row with a small ``tau_i`` is an outlier and weighs little in the estimates. ECME
(Liu & Rubin 1995; Liu 1997) maximises the observed-data log-likelihood

.. math::

    \ell(\mu, \Sigma, \nu) = \sum_i \Big[\log\Gamma\big(\tfrac{\nu+p_i}{2}\big) - \log\Gamma\big(\tfrac{\nu}{2}\big)
        - \tfrac{p_i}{2}\log(\nu\pi) - \tfrac12\log|\Sigma_{O_iO_i}|
        - \tfrac{\nu+p_i}{2}\log\big(1 + d_i^2/\nu\big)\Big],

``p_i`` the observed cells of row ``i`` and ``d_i^2`` their Mahalanobis distance, minus
the same ridge penalty as :func:`imputer.impute` when ``ridge > 0`` (an inverse-Wishart
prior on ``Sigma`` worth ``ridge`` pseudo-rows with the observed variances). With ``dof``
given, ``nu`` is fixed; with ``dof=None`` it is estimated in ``[0.5, 1000]``: beyond
1000 the t is, for imputation, the normal. The iteration is
:mod:`imputer.mvt._problem`; the missing cells are filled with their conditional means,
which for the t are the normal's under the same location and scale.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from imputer._em.monitor import Callback, make_monitor, watching
from imputer._gaussian.patterns import Patterns, build_patterns
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mvn._fit import blas_threads, conditional_variances, fill_missing, standardise
from imputer.mvn._problem import warn_if_unreliable
from imputer.mvn._scaling import scaling_of
from imputer.mvn._validate import check_options, check_rows, prepare
from imputer.mvn.api import DEFAULT_MAX_ITER, DEFAULT_TOL, _completed_frame
from imputer.mvt._likelihood import DOF_BOUNDS, tau
from imputer.mvt._problem import TFit, fit_t
from imputer.mvt.result import TImputeResult

__all__ = ["impute_t"]


def check_dof(dof: Any) -> float | None:
    """``dof`` must be None or a finite real number > 0 (not a bool).

    Raises
    ------
    ImputerTypeError
        Not a number (a bool, a string, ...).
    ImputerValueError
        NaN, infinite, or ``<= 0``.
    """
    if dof is None:
        return None
    if isinstance(dof, (bool, np.bool_)) or not isinstance(dof, numbers.Real):
        raise ImputerTypeError(f"dof must be a positive number or None (to estimate it), got {dof!r}")
    value = float(dof)
    if math.isinf(value):
        raise ImputerValueError("dof must be finite; the t with infinite degrees of freedom is the normal: use imputer.impute")
    if not value > 0.0:
        raise ImputerValueError(f"dof must be > 0 (the t's degrees of freedom), got {dof!r}")
    return value


def impute_t(
    data: pd.DataFrame | Any,
    *,
    dof: float | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    ridge: float = 0.0,
    columns: Sequence[Hashable] | None = None,
    accelerate: bool = True,
    progress: bool = False,
    callback: Callback | None = None,
    max_time: float | None = None,
) -> TImputeResult:
    """Estimate a multivariate t from incomplete data by ECME and fill the gaps.

    Heavy tails and outliers: each row gets a weight ``(dof + p_i)/(dof + d_i^2)`` in the
    estimates, so one outlier bends neither the location nor the scale, nor the fills,
    as it bends the normal's.

    Parameters
    ----------
    data : DataFrame or 2-D array-like, shape (n, k)
        As for :func:`imputer.impute`: missing cells NaN, None or ``pd.NA``; numeric
        columns modelled, the others carried through.
    dof : float, optional
        Degrees of freedom ``nu > 0``, fixed; default None estimates them (by maximising
        the observed-data likelihood in ``[0.5, 1000]``; an estimate at 1000 means no
        heavier tails than the normal's, which :func:`imputer.impute` fits).
    tol : float, default 1e-7
        Convergence tolerance: largest change of a location or scale entry in
        standard-deviation units (as for :func:`imputer.impute`) and of ``log dof``.
    max_iter : int, default 1000
        Iteration limit (SQUAREM cycles when accelerated).
    ridge : float, default 0.0
        Inverse-Wishart prior on the scale matrix worth ``ridge`` pseudo-rows, as in
        :func:`imputer.impute`.
    columns : sequence of labels, optional
        Columns to model; default every numeric column.
    accelerate : bool, default True
        SQUAREM acceleration with the monotone safeguard; off runs plain ECME.
    progress, callback, max_time
        Progress line, per-iterate ``callback(iteration, progress)`` (truthy return stops)
        and time limit in seconds, as in :func:`imputer.impute`.

    Returns
    -------
    TImputeResult
        Completed table, ``mean`` (location), ``scale``, ``cov``, ``dof``, ``row_weights``,
        log-likelihood, history and conditional variances.

    Raises
    ------
    ImputerValueError, ImputerTypeError
        Those of :func:`imputer.impute`, and a ``dof`` that is not a positive finite
        number (or None).

    Warns
    -----
    ConvergenceWarning
        No convergence within ``max_iter``, or a scale matrix heading to singular.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import imputer
    >>> df = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0, 5.0, 3.0], "b": [2.1, 3.9, 6.2, np.nan, 9.8, 30.0]})
    >>> res = imputer.impute_t(df, dof=4)
    >>> bool(res.row_weights.idxmin() == 5)
    True
    """
    dof = check_dof(dof)
    tol, max_iter, ridge, accelerate = check_options(tol, max_iter, ridge, accelerate)
    monitor = make_monitor(callback, progress, max_time, label="impute_t")
    prep = prepare(data, columns)
    n, p = prep.n_rows, len(prep.columns)
    mask = np.column_stack([np.isnan(v) for v in prep.values])
    n_missing = mask.sum(axis=0)
    scaling = scaling_of(prep.columns, prep.values, mask)
    check_rows(n, p, ridge)
    patterns = build_patterns(mask)
    del mask
    if monitor is not None:
        monitor.offset = scaling.loglik_offset(ridge)[1]
    with blas_threads(p), watching(monitor):
        std = standardise(patterns, prep.values, scaling, keep_complete=True)
        fit = fit_t(std, dof=dof, tol=tol, max_iter=max_iter, ridge=ridge, accelerate=accelerate)
        filled = np.empty((n, p), order="F")
        for j, v in enumerate(prep.values):
            filled[:, j] = v
        fill_missing(std, fit.mu, fit.sigma, filled, scaling, refresh=True)
    if monitor is None or not monitor.warn(stacklevel=2):
        warn_if_unreliable(fit, tol, max_iter, stacklevel=2)  # type: ignore[arg-type]  # duck-typed: singular, min_eig, converged

    labels = pd.Index(list(prep.columns), tupleize_cols=False)
    scale_arr = scaling.cov_to_original(fit.sigma)
    cov_arr = scale_arr * (fit.nu / (fit.nu - 2.0)) if fit.nu > 2.0 else np.full((p, p), np.nan)
    ll_off, obj_off = scaling.loglik_offset(ridge)
    return TImputeResult(
        completed=_completed_frame(prep.frame, prep.columns, filled, n_missing),
        mean=pd.Series(scaling.mean_to_original(fit.mu), index=labels, name="mean"),
        scale=pd.DataFrame(scale_arr, index=labels, columns=labels),
        cov=pd.DataFrame(cov_arr, index=labels, columns=labels),
        dof=float(fit.nu),
        dof_estimated=dof is None,
        row_weights=pd.Series(tau(fit.terms, fit.nu), index=prep.frame.index, name="row_weight"),
        loglik=fit.loglik + ll_off,
        trace=fit.trace.shifted(obj_off),
        columns=prep.columns,
        n_missing=pd.Series(n_missing.astype(np.int64), index=labels, name="n_missing"),
        n_rows=n,
        ridge=ridge,
        tol=tol,
        max_iter=max_iter,
        accelerate=accelerate,
        n_patterns=patterns.n_patterns,
        conditional_var_source=_TConditionalVariances(patterns, fit, scaling.scale, prep.frame.index, labels),
        passthrough=prep.passthrough(),
        dof_bounds=DOF_BOUNDS,
    )


class _TConditionalVariances:
    """The ``n x p`` conditional variances of a :class:`TImputeResult`, built on first use.

    ``(nu + d_i^2)/(nu + p_i - 2)`` times the normal's ``diag(C_M)`` (in original units),
    NaN at the missing cells of rows with ``nu + p_i <= 2``. Picklable.
    """

    def __init__(self, patterns: Patterns, fit: TFit, scale: np.ndarray, index: pd.Index, labels: pd.Index) -> None:
        nu, terms = fit.nu, fit.terms
        denom = nu + terms.n_obs - 2.0
        factor = np.divide(nu + terms.maha, denom, out=np.full(terms.maha.shape, np.nan), where=denom > 0)
        self._inputs: tuple[Any, ...] | None = (patterns, fit.sigma, scale, factor)
        self._index, self._labels = index, labels
        self._frame: pd.DataFrame | None = None

    def __call__(self) -> pd.DataFrame:
        if self._frame is None:
            assert self._inputs is not None
            patterns, sigma, scale, factor = self._inputs
            out = np.zeros((patterns.n_rows, patterns.n_cols), order="F")
            with blas_threads(patterns.n_cols):
                conditional_variances(patterns, sigma, scale, out)
            for group in patterns.groups:
                miss = group.miss[group.row_pattern]
                out[group.rows[:, None], miss] *= factor[group.rows][:, None]
            out.flags.writeable = False
            self._frame = pd.DataFrame(out, index=self._index, columns=self._labels, copy=False)
            self._inputs = None
        return self._frame
